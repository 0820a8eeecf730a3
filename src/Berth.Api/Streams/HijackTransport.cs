using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Berth.Api.Streams;

/// <summary>Connection middleware that lets Kestrel serve Docker's hijacked streams, which it cannot as they come:
/// <list type="bullet">
/// <item>The docker CLI sends `POST /exec/{id}/start` with `Connection: Upgrade` AND a JSON body; Kestrel does not
/// upgrade a request that has a body. Hijacked requests come first on a fresh connection, so the first request head
/// is looked at: when it asks for an upgrade and carries a body, the body moves into an X-Berth-Upgrade-Body header
/// (base64) and Content-Length becomes 0.</item>
/// <item>A hijacking client half-closes its side (FIN) when its stdin ends and keeps reading the output; Kestrel
/// takes the end of input as the end of the connection and drops the response. So once a request hijacks the
/// connection, the client's bytes and their end go to <see cref="Gate.ClientInput"/> instead, and the end of input
/// reaches Kestrel only when no request is in flight.</item>
/// </list></summary>
public static class HijackTransport
{
    public const string Header = "X-Berth-Upgrade-Body";

    /// <summary>The body moved into the header, or null. The header can come from any client, so a bad one is a 400.</summary>
    public static T? ReadMovedBody<T>(HttpContext context) where T : class, new()
    {
        string? encoded = context.Request.Headers[Header];
        if (string.IsNullOrEmpty(encoded)) return null;
        byte[] body;
        try { body = Convert.FromBase64String(encoded); }
        catch (FormatException) { throw new Engine.BadRequestException($"invalid {Header} header: not base64"); }
        return DockerResults.ParseJson<T>(body);
    }

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var original = connection.Transport;
        var toKestrel = new Pipe();
        var gate = new Gate(toKestrel.Writer);
        connection.Items[typeof(Gate)] = gate;
        connection.Transport = new DuplexPipe(toKestrel.Reader, original.Output);
        // The socket transport also signals a FIN through ConnectionClosed, on which Kestrel aborts the request.
        var originalClosed = connection.ConnectionClosed;
        connection.ConnectionClosed = gate.ConnectionLostToken;
        var pump = PumpAsync(original.Input, gate, connection.Features.Get<IConnectionSocketFeature>()?.Socket);
        try { await next(connection); }
        finally
        {
            connection.Transport = original;
            connection.ConnectionClosed = originalClosed;
            await toKestrel.Reader.CompleteAsync();
            // Kestrel is done with the connection: stop waiting for client bytes so it can close the socket.
            original.Input.CancelPendingRead();
        }
        await pump;
    };

    /// <summary>HTTP middleware counting the requests in flight on a connection for its <see cref="Gate"/>.</summary>
    public static async Task TrackRequest(HttpContext context, RequestDelegate next)
    {
        var gate = GateOf(context);
        gate?.Enter();
        try { await next(context); }
        finally { gate?.Exit(); }
    }

    public static Gate? GateOf(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(typeof(Gate), out var item) == true ? item as Gate : null;

    /// <summary>Where the client's bytes go: to Kestrel until a request hijacks the connection, then to
    /// <see cref="ClientInput"/>. The client's end of input reaches Kestrel only when no request is in flight.</summary>
    public sealed class Gate(PipeWriter toKestrel)
    {
        // A request whose bytes are still on their way through Kestrel's parser is not counted yet; this grace
        // period keeps its response from being dropped by an end of input that came right behind it.
        private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);
        private readonly Pipe _hijacked = new();
        private readonly CancellationTokenSource _connectionLost = new();
        private int _inFlight;
        private bool _clientClosed, _kestrelCompleted;

        public bool IsHijacked { get; private set; }

        /// <summary>What Kestrel sees as its connection's ConnectionClosed: a client's FIN is not that.</summary>
        public CancellationToken ConnectionLostToken => _connectionLost.Token;

        /// <summary>The client's bytes after the hijack; ends when the client half-closes.</summary>
        public Stream ClientInput => _hijacked.Reader.AsStream();

        /// <summary>Called before the 101 goes out: the request is parsed, so every later byte is the client's stdin.</summary>
        public void Hijack()
        {
            lock (this) IsHijacked = true;
        }

        internal PipeWriter Destination
        {
            get { lock (this) return IsHijacked ? _hijacked.Writer : toKestrel; }
        }

        public void Enter()
        {
            lock (this) _inFlight++;
        }

        public void Exit()
        {
            lock (this)
            {
                _inFlight--;
                if (_clientClosed && _inFlight == 0) CompleteKestrelLocked();
            }
        }

        internal void ClientClosed()
        {
            lock (this)
            {
                _clientClosed = true;
                if (IsHijacked) _hijacked.Writer.Complete();
                if (_inFlight > 0) return;
            }
            _ = Task.Delay(Grace).ContinueWith(_ =>
            {
                lock (this) if (_inFlight == 0) CompleteKestrelLocked();
            }, TaskScheduler.Default);
        }

        internal void ConnectionLost()
        {
            lock (this)
            {
                _hijacked.Writer.Complete();
                CompleteKestrelLocked();
            }
            // Unlike an end of input, this aborts what Kestrel has not sent yet: only for a connection that is gone.
            _connectionLost.Cancel();
        }

        private void CompleteKestrelLocked()
        {
            if (_kestrelCompleted) return;
            _kestrelCompleted = true;
            toKestrel.Complete();
        }
    }

    /// <param name="socket">The client's socket, to tell a hang-up from a half-close when its input ends.</param>
    private static async Task PumpAsync(PipeReader input, Gate gate, System.Net.Sockets.Socket? socket)
    {
        try
        {
            // First request head: up to the blank line.
            bool first = true;
            while (true)
            {
                var result = await input.ReadAsync();
                if (result.IsCanceled)
                {
                    gate.ConnectionLost();
                    return;
                }
                var buffer = result.Buffer;
                if (first)
                {
                    long headLength = HeadLength(buffer);
                    if (headLength > 0)
                    {
                        byte[] head = buffer.Slice(0, headLength).ToArray();
                        input.AdvanceTo(buffer.GetPosition(headLength));
                        await gate.Destination.WriteAsync(await RewriteAsync(head, input));
                        first = false;
                        continue;
                    }
                    if (!result.IsCompleted && buffer.Length <= 64 * 1024)
                    {
                        input.AdvanceTo(buffer.Start, buffer.End);
                        continue;
                    }
                    first = false;
                }
                // The rest passes through as it comes.
                foreach (var segment in buffer) await gate.Destination.WriteAsync(segment);
                input.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
            // A docker CLI that read the detach keys itself (ctrl-p ctrl-q) hangs up: that ends the attach, as
            // dockerd notices the closed connection; a half-close (stdin done, output still wanted) does not.
            if (gate.IsHijacked && socket is not null && PeerHungUp(socket)) gate.ConnectionLost();
            else gate.ClientClosed();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ConnectionResetException or ConnectionAbortedException)
        {
            gate.ConnectionLost();
        }
    }

    private static bool PeerHungUp(System.Net.Sockets.Socket socket)
    {
        try { return Berth.Linux.Interop.PeerHungUp(socket.SafeHandle); }
        catch (Exception e) when (e is ObjectDisposedException or Berth.Linux.LinuxException) { return true; }
    }

    private static async Task<byte[]> RewriteAsync(byte[] head, PipeReader input)
    {
        string text = Encoding.Latin1.GetString(head);
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        bool upgrade = lines.Any(l => l.StartsWith("Upgrade:", StringComparison.OrdinalIgnoreCase));
        int lengthLine = lines.FindIndex(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        if (!upgrade || lengthLine < 0 || !int.TryParse(lines[lengthLine][15..].Trim(), out int length) || length <= 0 || length > 1024 * 1024)
            return head;
        var body = new byte[length];
        int read = 0;
        while (read < length)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            int take = (int)Math.Min(buffer.Length, length - read);
            buffer.Slice(0, take).CopyTo(body.AsSpan(read));
            read += take;
            input.AdvanceTo(buffer.GetPosition(take));
            if ((result.IsCompleted || result.IsCanceled) && read < length) return head;
        }
        lines[lengthLine] = "Content-Length: 0";
        lines.Insert(lengthLine + 1, $"{Header}: {Convert.ToBase64String(body)}");
        return Encoding.Latin1.GetBytes(string.Join("\r\n", lines));
    }

    /// <summary>The length of the request head up to and including its blank line, or 0 while incomplete. Lines may end
    /// in a bare LF: Docker.DotNet ends its header lines that way (and only the blank one with CRLF).</summary>
    public static long HeadLength(ReadOnlySequence<byte> buffer)
    {
        long crlf = IndexOf(buffer, "\n\r\n"u8), lf = IndexOf(buffer, "\n\n"u8);
        if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 3;
        return lf >= 0 ? lf + 2 : 0;
    }

    private static long IndexOf(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> value)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> before, value, advancePastDelimiter: false) ? before.Length : -1;
    }

    internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
