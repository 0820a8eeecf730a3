using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Berth.Engine.Store;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;

namespace Berth.Api.Streams;

/// <summary>The docker CLI sends `POST /exec/{id}/start` with `Connection: Upgrade` AND a JSON body; Kestrel does not
/// upgrade a request that has a body. Hijacked requests always come first on a fresh connection, so this connection
/// middleware looks at the first request head only: when it asks for an upgrade and carries a body, the body moves
/// into an X-Berth-Upgrade-Body header (base64) and Content-Length becomes 0. Everything else passes untouched.</summary>
public static class UpgradeBody
{
    public const string Header = "X-Berth-Upgrade-Body";

    public static T? Read<T>(HttpContext context) where T : class
    {
        string? encoded = context.Request.Headers[Header];
        return string.IsNullOrEmpty(encoded) ? null : JsonSerializer.Deserialize<T>(Convert.FromBase64String(encoded), EngineJson.Options);
    }

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var original = connection.Transport;
        var pipe = new Pipe();
        connection.Transport = new DuplexPipe(pipe.Reader, original.Output);
        var pump = PumpAsync(original.Input, pipe.Writer);
        try { await next(connection); }
        finally
        {
            connection.Transport = original;
            await pipe.Reader.CompleteAsync();
        }
        await pump;
    };

    private static async Task PumpAsync(PipeReader input, PipeWriter output)
    {
        try
        {
            // First request head: up to the blank line.
            byte[]? head = null;
            while (head is null)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                var end = IndexOf(buffer, "\r\n\r\n"u8);
                if (end >= 0)
                {
                    head = buffer.Slice(0, end + 4).ToArray();
                    input.AdvanceTo(buffer.GetPosition(end + 4));
                    break;
                }
                if (result.IsCompleted || buffer.Length > 64 * 1024)
                {
                    foreach (var segment in buffer) await output.WriteAsync(segment);
                    input.AdvanceTo(buffer.End);
                    if (result.IsCompleted) return;
                    head = [];
                    break;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
            if (head.Length > 0) await output.WriteAsync(await RewriteAsync(head, input));
            // The rest passes through as it comes.
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer) await output.WriteAsync(segment);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ConnectionResetException) { }
        finally
        {
            await output.CompleteAsync();
        }
    }

    private static async Task<byte[]> RewriteAsync(byte[] head, PipeReader input)
    {
        string text = Encoding.Latin1.GetString(head);
        var lines = text.Split("\r\n").ToList();
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
            if (result.IsCompleted && read < length) return head;
        }
        lines[lengthLine] = "Content-Length: 0";
        lines.Insert(lengthLine + 1, $"{Header}: {Convert.ToBase64String(body)}");
        return Encoding.Latin1.GetBytes(string.Join("\r\n", lines));
    }

    private static long IndexOf(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> value)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> before, value, advancePastDelimiter: false) ? before.Length : -1;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
