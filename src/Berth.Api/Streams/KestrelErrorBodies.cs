using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;

namespace Berth.Api.Streams;

/// <summary>Connection middleware giving the answers Kestrel writes by itself (a request it cannot parse: 400, a
/// request line over its limit: 414, headers over theirs: 431 ...) Docker's JSON body {"message": ...}, which clients
/// print. Those answers never reach the application, and Kestrel cannot be asked for a body. Every other byte goes
/// through untouched: the writer lends Kestrel the socket pipe's own memory and only looks at what Kestrel commits
/// in one piece. An empty 4xx head with `Connection: close` committed whole is one of Kestrel's refusals (Berth's own
/// errors all have a body); it is replaced while still uncommitted. Hijacked streams are never looked at.</summary>
public static class KestrelErrorBodies
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var original = connection.Transport;
        var gate = connection.Items.TryGetValue(typeof(HijackTransport.Gate), out var item) ? item as HijackTransport.Gate : null;
        connection.Transport = new HijackTransport.DuplexPipe(original.Input, new Writer(original.Output, gate));
        try { await next(connection); }
        finally { connection.Transport = original; }
    };

    /// <summary>The message for a status Kestrel answers by itself; null for any other status.</summary>
    public static string? MessageFor(int status) => status switch
    {
        400 => "bad request: the request is not valid HTTP",
        405 => "method not allowed",
        411 => "length required",
        414 => "request URI too long",
        431 => "request header fields too large",
        501 => "not implemented",
        505 => "HTTP version not supported",
        _ => null,
    };

    /// <summary>Kestrel's refusal heads are short; anything longer is not one.</summary>
    private const int MaxHead = 512;

    /// <summary>The head with a JSON body added when it is one of Kestrel's own empty refusals; else null.</summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> block)
    {
        if (block.Length < 16 || block.Length > MaxHead || !block.StartsWith("HTTP/1.1 "u8)) return null;
        int headEnd = block.IndexOf("\r\n\r\n"u8);
        if (headEnd < 0 || headEnd + 4 != block.Length) return null; // an empty answer: its head is all there is
        string head = Encoding.Latin1.GetString(block[..headEnd]) + "\r\n";
        if (!int.TryParse(head.AsSpan(9, 3), out int status) || MessageFor(status) is not { } message) return null;
        const string emptyLength = "\r\nContent-Length: 0\r\n";
        int lengthAt = head.IndexOf(emptyLength, StringComparison.OrdinalIgnoreCase);
        if (lengthAt < 0 || !head.Contains("\r\nConnection: close\r\n", StringComparison.OrdinalIgnoreCase)) return null;
        byte[] body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { message }) + "\n");
        string newHead = head.Remove(lengthAt, emptyLength.Length)
            .Insert(lengthAt, $"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n");
        return [.. Encoding.Latin1.GetBytes(newHead), .. "\r\n"u8, .. body];
    }

    /// <summary>The socket's writer as it is (same memory, same commits, same flushes), except that a block
    /// <see cref="Rewrite"/> recognises is swapped before it is committed.</summary>
    private sealed class Writer(PipeWriter inner, HijackTransport.Gate? gate) : PipeWriter
    {
        private Memory<byte> _lent;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _lent = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if (bytes <= MaxHead && bytes <= _lent.Length && gate?.IsHijacked != true
                && Rewrite(_lent.Span[..bytes]) is { } rewritten)
            {
                // The head is still uncommitted in the pipe's memory: write the new one in its place.
                _lent = default;
                inner.Write(rewritten);
                return;
            }
            _lent = default;
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}
