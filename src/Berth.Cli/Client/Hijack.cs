using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Berth.Engine.Containers;

namespace Berth.Cli.Client;

/// <summary>attach and exec start as the docker CLI does them: the HTTP request written by hand on a fresh socket
/// with `Connection: Upgrade` / `Upgrade: tcp`, the `101 UPGRADED` head read, and then the raw connection: the
/// container's output one way (8-byte framed stdout/stderr without a TTY, raw bytes with one) and stdin the other,
/// ended by a half-close.</summary>
public sealed class HijackedConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _leftover;
    private int _leftoverOffset;

    private HijackedConnection(Socket socket, byte[] leftover)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _leftover = leftover;
    }

    public static async Task<HijackedConnection> OpenAsync(string host, string path, string? jsonBody, CancellationToken ct)
    {
        var socket = await ConnectAsync(host, ct);
        try
        {
            byte[] body = jsonBody is null ? [] : Encoding.UTF8.GetBytes(jsonBody);
            var request = new StringBuilder()
                .Append($"POST {path} HTTP/1.1\r\n")
                .Append("Host: berth\r\n")
                .Append($"User-Agent: Berth-Client/{Api.EngineInfo.Version}\r\n")
                .Append("Connection: Upgrade\r\n")
                .Append("Upgrade: tcp\r\n");
            if (jsonBody is not null) request.Append("Content-Type: application/json\r\n");
            request.Append($"Content-Length: {body.Length}\r\n\r\n");
            await socket.SendAsync(Encoding.ASCII.GetBytes(request.ToString()).Concat(body).ToArray(), SocketFlags.None, ct);

            var (status, headers, rest) = await ReadHeadAsync(socket, ct);
            if (status == 101) return new HijackedConnection(socket, rest);
            // An error reply: its body is the {"message"}.
            byte[] replyBody = await ReadBodyAsync(socket, headers, rest, ct);
            string text = Encoding.UTF8.GetString(replyBody);
            string message = text;
            try
            {
                using var doc = JsonDocument.Parse(text);
                if (doc.RootElement.TryGetProperty("message", out var m)) message = m.GetString() ?? text;
            }
            catch (JsonException) { }
            socket.Dispose();
            if (status is >= 200 and < 300) throw new CliException($"the engine did not upgrade the connection for {path} (status {status})");
            throw new ApiException(status, message);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<Socket> ConnectAsync(string host, CancellationToken ct)
    {
        Socket socket;
        try
        {
            if (host.StartsWith("unix://", StringComparison.Ordinal))
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(host["unix://".Length..]), ct);
                return socket;
            }
            var uri = new Uri(host.StartsWith("tcp://", StringComparison.Ordinal) ? "http://" + host["tcp://".Length..] : host);
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(uri.Host, uri.Port, ct);
            return socket;
        }
        catch (SocketException)
        {
            throw EngineApi.CannotConnect(host);
        }
    }

    private static async Task<(int Status, Dictionary<string, string> Headers, byte[] Remainder)> ReadHeadAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        while (true)
        {
            int n = await socket.ReceiveAsync(chunk, SocketFlags.None, ct);
            if (n == 0) throw new CliException("the engine closed the connection before answering");
            buffer.AddRange(chunk.AsSpan(0, n));
            int end = IndexOfHeadEnd(buffer);
            if (end < 0)
            {
                if (buffer.Count > 64 * 1024) throw new CliException("the engine's reply head is too large");
                continue;
            }
            string head = Encoding.ASCII.GetString(buffer.GetRange(0, end).ToArray());
            var lines = head.Split("\r\n");
            var statusParts = lines[0].Split(' ', 3);
            if (statusParts.Length < 2 || !int.TryParse(statusParts[1], out int status))
                throw new CliException($"malformed reply from the engine: {lines[0]}");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string line in lines.Skip(1))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
            return (status, headers, buffer.GetRange(end + 4, buffer.Count - end - 4).ToArray());
        }
    }

    private static int IndexOfHeadEnd(List<byte> buffer)
    {
        for (int i = 0; i + 3 < buffer.Count; i++)
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n') return i;
        return -1;
    }

    /// <summary>An error reply's body: Content-Length, chunked, or up to the close.</summary>
    private static async Task<byte[]> ReadBodyAsync(Socket socket, Dictionary<string, string> headers, byte[] rest, CancellationToken ct)
    {
        var data = new List<byte>(rest);
        var chunk = new byte[4096];
        int? length = headers.TryGetValue("Content-Length", out string? cl) && int.TryParse(cl, out int l) ? l : null;
        bool chunked = headers.TryGetValue("Transfer-Encoding", out string? te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            while (length is null || data.Count < length)
            {
                if (chunked && Encoding.ASCII.GetString(data.ToArray()).Contains("\r\n0\r\n")) break;
                int n = await socket.ReceiveAsync(chunk, SocketFlags.None, timeout.Token);
                if (n == 0) break;
                data.AddRange(chunk.AsSpan(0, n));
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        if (length is not null && data.Count > length) data.RemoveRange(length.Value, data.Count - length.Value);
        if (!chunked) return data.ToArray();
        // De-chunk.
        var result = new List<byte>();
        int pos = 0;
        byte[] raw = data.ToArray();
        while (pos < raw.Length)
        {
            int lineEnd = Array.IndexOf(raw, (byte)'\n', pos);
            if (lineEnd < 0) break;
            string sizeText = Encoding.ASCII.GetString(raw, pos, lineEnd - pos).Trim();
            if (!int.TryParse(sizeText.Split(';')[0], System.Globalization.NumberStyles.HexNumber, null, out int size) || size == 0) break;
            pos = lineEnd + 1;
            result.AddRange(raw.AsSpan(pos, Math.Min(size, raw.Length - pos)));
            pos += size + 2;
        }
        return result.ToArray();
    }

    /// <summary>Reads at least one byte of the stream (the bytes that came with the head first); 0 at its end.</summary>
    private async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct)
    {
        if (_leftoverOffset < _leftover.Length)
        {
            int n = Math.Min(buffer.Length, _leftover.Length - _leftoverOffset);
            _leftover.AsMemory(_leftoverOffset, n).CopyTo(buffer);
            _leftoverOffset += n;
            return n;
        }
        try { return await _stream.ReadAsync(buffer, ct); }
        catch (IOException) { return 0; }
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await ReadAsync(buffer[done..], ct);
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    /// <summary>Copies the container's output to <paramref name="stdout"/> and <paramref name="stderr"/> until the
    /// engine ends the stream: demultiplexed without a TTY, raw with one.</summary>
    public async Task CopyOutputAsync(Stream stdout, Stream stderr, bool tty, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        if (tty)
        {
            int n;
            while ((n = await ReadAsync(buffer, ct)) > 0)
            {
                await stdout.WriteAsync(buffer.AsMemory(0, n), ct);
                await stdout.FlushAsync(ct);
            }
            return;
        }
        await Demultiplex(ReadExactlyAsync, stdout, stderr, ct);
    }

    /// <summary>Docker's multiplexed stream: frames of [stream, 0, 0, 0, uint32 big-endian length] + payload;
    /// stream 1 is stdout, 2 stderr (0, stdin, goes to stdout as in the docker CLI).</summary>
    public static async Task Demultiplex(Func<Memory<byte>, CancellationToken, Task<bool>> readExactly, Stream stdout, Stream stderr, CancellationToken ct)
    {
        var header = new byte[8];
        var payload = new byte[32 * 1024];
        while (await readExactly(header, ct))
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            var target = header[0] == 2 ? stderr : header[0] is 0 or 1 ? stdout
                : throw new CliException($"Unrecognized input header: {header[0]}");
            while (length > 0)
            {
                int n = (int)Math.Min(length, (uint)payload.Length);
                if (!await readExactly(payload.AsMemory(0, n), ct)) return;
                await target.WriteAsync(payload.AsMemory(0, n), ct);
                length -= (uint)n;
            }
            await target.FlushAsync(ct);
        }
    }

    /// <summary>Sends <paramref name="stdin"/> to the container, then half-closes so it sees the end of its input.
    /// With a <paramref name="detach"/> scanner (a terminal) the detach keys stop it instead, never sent: true then.
    /// </summary>
    public async Task<bool> SendInputAsync(Stream stdin, CancellationToken ct, DetachKeyScanner? detach = null)
    {
        var buffer = new byte[16 * 1024];
        var pass = new List<byte>();
        try
        {
            int n;
            while ((n = await stdin.ReadAsync(buffer, ct)) > 0)
            {
                if (detach is null)
                {
                    await _stream.WriteAsync(buffer.AsMemory(0, n), ct);
                    continue;
                }
                pass.Clear();
                bool detached = detach.Scan(buffer.AsSpan(0, n), pass);
                if (pass.Count > 0) await _stream.WriteAsync(pass.ToArray(), ct);
                if (detached) return true;
            }
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
        return false;
    }

    public void CloseInput()
    {
        try { _socket.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
