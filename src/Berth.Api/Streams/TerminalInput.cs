using System.Buffers;
using Berth.Engine;
using Berth.Engine.Containers;

namespace Berth.Api.Streams;

/// <summary>A client's keyboard on a terminal (attach or exec with a TTY): the detach keys leave the stream and the
/// process runs on, as dockerd does; without a TTY stdin is copied as it comes.</summary>
public static class TerminalInput
{
    /// <summary>The scanner for <paramref name="keys"/> (dockerd's default when empty) on a terminal, null without
    /// one. <paramref name="word"/> names them in dockerd's 400: "detach" for attach, "escape" for exec.</summary>
    public static DetachKeyScanner? DetachScanner(bool tty, string? keys, string word)
    {
        byte[]? sequence = DetachKeys.Parse(string.IsNullOrEmpty(keys) ? DetachKeys.Default : keys)
            ?? throw new BadRequestException($"Invalid {word} keys ({keys}) provided");
        return tty ? new DetachKeyScanner(sequence) : null;
    }

    /// <summary>Copies until the client's stdin ends (false) or the detach keys come (true).</summary>
    public static async Task<bool> CopyUntilDetachAsync(Stream client, Stream stdin, DetachKeyScanner detach)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(4096);
        var pass = new List<byte>(4096);
        try
        {
            int n;
            while ((n = await client.ReadAsync(buffer)) > 0)
            {
                pass.Clear();
                bool detached = detach.Scan(buffer.AsSpan(0, n), pass);
                if (pass.Count > 0) await stdin.WriteAsync(pass.ToArray());
                if (detached) return true;
            }
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Ends the output side (<paramref name="stream"/>) once the stdin copy reports a detach.</summary>
    public static async Task CancelOnDetach(Task<bool> pump, CancellationTokenSource stream)
    {
        if (!await pump) return;
        try { stream.Cancel(); }
        catch (ObjectDisposedException) { } // the stream ended on its own meanwhile
    }
}
