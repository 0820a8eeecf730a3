using System.Globalization;
using System.Text.Json;

namespace Berth.Runtime.Registry;

/// <summary>Docker's JSON progress messages, one per line, as dockerd streams them for pull and push:
/// {"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[=> ]  1B/2B","id":"0123456789ab"}.
/// Writers on many layers share it; each message is written and flushed whole.</summary>
public sealed class ProgressStream(Stream output)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Whether any message has gone out (after that, errors travel in the stream, not as a status).</summary>
    public bool Started { get; private set; }

    /// <summary>A plain line: {"status":"Digest: sha256:..."} or, with an id, {"status":"Pulling from x","id":"latest"}.</summary>
    public Task MessageAsync(string status, string? id = null) => WriteAsync(status, id, null, false);

    /// <summary>A layer's state without counts: {"status":"Pull complete","progressDetail":{},"id":"..."}.</summary>
    public Task LayerAsync(string id, string status) => WriteAsync(status, id, null, true);

    public Task ProgressAsync(string id, string status, long current, long total) =>
        WriteAsync(status, id, (current, total), true);

    public async Task ErrorAsync(string message)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("errorDetail");
            json.WriteString("message", message);
            json.WriteEndObject();
            json.WriteString("error", message);
            json.WriteEndObject();
        }
        await SendAsync(buffer, CancellationToken.None);
    }

    /// <summary>An aux message (push ends with {"progressDetail":{},"aux":{"Tag":..,"Digest":..,"Size":..}}).</summary>
    public async Task AuxAsync(Action<Utf8JsonWriter> aux)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("progressDetail");
            json.WriteEndObject();
            json.WritePropertyName("aux");
            json.WriteStartObject();
            aux(json);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        await SendAsync(buffer, CancellationToken.None);
    }

    private async Task WriteAsync(string status, string? id, (long Current, long Total)? counts, bool detail)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("status", status);
            if (detail)
            {
                json.WriteStartObject("progressDetail");
                if (counts is var (current, total))
                {
                    json.WriteNumber("current", current);
                    if (total > 0) json.WriteNumber("total", total);
                }
                json.WriteEndObject();
                if (counts is var (c, t)) json.WriteString("progress", Bar(c, t));
            }
            if (id is not null) json.WriteString("id", id);
            json.WriteEndObject();
        }
        await SendAsync(buffer, CancellationToken.None);
    }

    private async Task SendAsync(MemoryStream buffer, CancellationToken ct)
    {
        buffer.WriteByte((byte)'\n');
        await _gate.WaitAsync(ct);
        try
        {
            Started = true;
            await output.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct);
            await output.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { } // the client left
        finally { _gate.Release(); }
    }

    /// <summary>dockerd's rendering for a 200-column terminal: "[=====>     ]  12.35kB/2.156MB".</summary>
    public static string Bar(long current, long total)
    {
        if (current <= 0 && total <= 0) return "";
        if (total <= 0) return $"{HumanSize(current),8}";
        int percentage = Math.Min((int)((double)current / total * 100) / 2, 50);
        string box = $"[{new string('=', percentage)}>{new string(' ', Math.Max(50 - percentage, 0))}] ";
        return box + (current > total ? $"{HumanSize(current),8}" : $"{HumanSize(current),8}/{HumanSize(total)}");
    }

    /// <summary>Go's units.HumanSize: decimal units, four significant digits ("12.35kB", "2.156MB").</summary>
    public static string HumanSize(double size)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB"];
        int i = 0;
        while (size >= 1000 && i < units.Length - 1) { size /= 1000; i++; }
        return size.ToString("G4", CultureInfo.InvariantCulture) + units[i];
    }
}

/// <summary>Counts what is read through it and reports, at most every 1% or 512 KiB, to a progress callback; refuses
/// to read past the size the manifest declared.</summary>
internal sealed class CountingStream(Stream inner, long declared, Action<long> report) : Stream
{
    private long _count, _reported;

    public long Count => _count;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct);
        Advance(n);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        Advance(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private void Advance(int n)
    {
        _count += n;
        if (declared > 0 && _count > declared)
            throw new RegistryException($"blob is larger than the {declared} bytes its descriptor declares", RegistryErrorKind.DigestMismatch);
        long step = Math.Min(512 * 1024, Math.Max(declared / 100, 1));
        if (n == 0 || _count - _reported >= step)
        {
            _reported = _count;
            report(_count);
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _count; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
