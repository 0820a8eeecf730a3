using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace Berth.Api.Streams;

/// <summary>Connection middleware giving the answers Kestrel writes itself, for a request it could not parse (400),
/// a request line over its limit (414) or headers over theirs (431), Docker's JSON body {"message": ...}: clients
/// print that message. Those answers never reach the application; they are the only 4xx heads with an empty body
/// that the connection ever carries (every error of Berth's own has a JSON body), and Kestrel writes each head
/// into a fresh buffer after the previous response was flushed. So each block Kestrel commits is looked at from
/// its start, and only such a head is rewritten.</summary>
public static class KestrelErrorBodies
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => async connection =>
    {
        var original = connection.Transport;
        connection.Transport = new HijackTransport.DuplexPipe(original.Input, new Writer(original.Output));
        try { await next(connection); }
        finally { connection.Transport = original; }
    };

    /// <summary>The message for a status Kestrel answers by itself; null for any other status.</summary>
    public static string? MessageFor(int status) => status switch
    {
        400 => "bad request: the request is not valid HTTP",
        414 => "request URI too long",
        431 => "request header fields too large",
        _ => null,
    };

    /// <summary>The head with a JSON body added when it is one of Kestrel's own empty 400/414/431 answers; else null.</summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> block)
    {
        if (!block.StartsWith("HTTP/1.1 4"u8) || block.Length < 12) return null;
        int headEnd = block.IndexOf("\r\n\r\n"u8);
        if (headEnd < 0 || headEnd + 4 != block.Length) return null; // an empty answer: its head is all there is
        string head = Encoding.Latin1.GetString(block[..headEnd]);
        if (!int.TryParse(head.AsSpan(9, 3), out int status) || MessageFor(status) is not { } message) return null;
        const string emptyLength = "\r\nContent-Length: 0\r\n";
        int lengthAt = (head + "\r\n").IndexOf(emptyLength, StringComparison.OrdinalIgnoreCase);
        if (lengthAt < 0) return null;
        byte[] body = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { message }) + "\n");
        string newHead = (head + "\r\n").Remove(lengthAt, emptyLength.Length)
            .Insert(lengthAt, $"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n");
        return [.. Encoding.Latin1.GetBytes(newHead), .. "\r\n"u8, .. body];
    }

    /// <summary>Hands Kestrel a buffer of its own and copies each committed block into the socket's writer, rewriting
    /// the block when <see cref="Rewrite"/> says so. One copy of the bytes Kestrel writes; nothing else changes.</summary>
    private sealed class Writer(PipeWriter inner) : PipeWriter
    {
        private byte[] _buffer = new byte[4096];

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            if (_buffer.Length < sizeHint) _buffer = new byte[Math.Max(sizeHint, _buffer.Length * 2)];
            return _buffer;
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            var block = _buffer.AsSpan(0, bytes);
            if (Rewrite(block) is { } rewritten) inner.Write(rewritten);
            else inner.Write(block);
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
