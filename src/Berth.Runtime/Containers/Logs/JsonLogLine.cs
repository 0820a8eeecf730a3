using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Berth.Runtime.Containers;

/// <summary>One line of Docker's json-file log, byte for byte as dockerd writes it:
/// {"log":"...","stream":"stdout","time":"2026-11-30T06:00:00.123456789Z"} — the log escaped as moby's jsonlog
/// escapes it (HTML-safe, \u2028/\u2029, \ufffd for each byte that is not UTF-8), the time in UTC with RFC 3339's
/// nanoseconds, trailing zeros trimmed.</summary>
public static class JsonLogLine
{
    private static readonly SearchValues<byte> Plain = SearchValues.Create(PlainBytes());
    private static readonly byte[] Hex = "0123456789abcdef"u8.ToArray();

    private static byte[] PlainBytes()
    {
        var bytes = new List<byte>();
        for (int b = 0x20; b < 0x80; b++)
            if (b is not ('\\' or '"' or '<' or '>' or '&')) bytes.Add((byte)b);
        return bytes.ToArray();
    }

    /// <summary>Appends one entry and its newline. <paramref name="time"/> is Docker's quoted time text.</summary>
    public static void Write(ByteBuffer output, ReadOnlySpan<byte> log, StdStream stream, ReadOnlySpan<byte> time)
    {
        if (log.Length > 0)
        {
            output.Append("{\"log\":"u8);
            WriteString(output, log);
            output.Append(stream == StdStream.Stderr ? ",\"stream\":\"stderr\",\"time\":"u8 : ",\"stream\":\"stdout\",\"time\":"u8);
        }
        else output.Append(stream == StdStream.Stderr ? "{\"stream\":\"stderr\",\"time\":"u8 : "{\"stream\":\"stdout\",\"time\":"u8);
        output.Append(time);
        output.Append("}\n"u8);
    }

    /// <summary>moby's ffjsonWriteJSONBytesAsString: a run of plain ASCII is copied at once.</summary>
    public static void WriteString(ByteBuffer output, ReadOnlySpan<byte> s)
    {
        output.Append((byte)'"');
        while (s.Length > 0)
        {
            int special = s.IndexOfAnyExcept(Plain);
            if (special < 0)
            {
                output.Append(s);
                break;
            }
            output.Append(s[..special]);
            s = s[special..];
            byte b = s[0];
            if (b < 0x80)
            {
                switch (b)
                {
                    case (byte)'\\' or (byte)'"':
                        output.Append((byte)'\\');
                        output.Append(b);
                        break;
                    case (byte)'\n':
                        output.Append("\\n"u8);
                        break;
                    case (byte)'\r':
                        output.Append("\\r"u8);
                        break;
                    default:
                        output.Append("\\u00"u8);
                        output.Append(Hex[b >> 4]);
                        output.Append(Hex[b & 0xF]);
                        break;
                }
                s = s[1..];
                continue;
            }
            // Go's utf8.DecodeRune: an invalid byte is one U+FFFD and the next byte is looked at afresh.
            if (Rune.DecodeFromUtf8(s, out var rune, out int used) != OperationStatus.Done)
            {
                output.Append("\\ufffd"u8);
                s = s[1..];
                continue;
            }
            if (rune.Value is 0x2028 or 0x2029)
            {
                output.Append("\\u202"u8);
                output.Append(Hex[rune.Value & 0xF]);
            }
            else output.Append(s[..used]);
            s = s[used..];
        }
        output.Append((byte)'"');
    }

    /// <summary>Docker's quoted time for a UTC instant given to the nanosecond.</summary>
    public static byte[] FormatTime(DateTime utc, int nanoseconds)
    {
        var text = new StringBuilder(40);
        text.Append('"').Append(utc.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
        if (nanoseconds > 0)
            text.Append('.').Append(nanoseconds.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0'));
        return Encoding.ASCII.GetBytes(text.Append("Z\"").ToString());
    }

    public static byte[] FormatTime(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        int nanoseconds = (int)(utc.Ticks % TimeSpan.TicksPerSecond) * 100;
        return FormatTime(new DateTime(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc), nanoseconds);
    }

    /// <summary>conmon's record time ("2026-11-30T06:00:00.123456789+01:00", local offset) as Docker's, or null
    /// when the text is not in that shape.</summary>
    public static byte[]? FromConmonTime(ReadOnlySpan<byte> text)
    {
        // yyyy-MM-ddTHH:mm:ss.nnnnnnnnn±hh:mm
        if (text.Length != 35 || text[19] != '.' || text[29] is not ((byte)'+' or (byte)'-')) return null;
        if (!TryDigits(text[..4], out int year) || !TryDigits(text[5..7], out int month) || !TryDigits(text[8..10], out int day)
            || !TryDigits(text[11..13], out int hour) || !TryDigits(text[14..16], out int minute)
            || !TryDigits(text[17..19], out int second) || !TryDigits(text[20..29], out int nanos)
            || !TryDigits(text[30..32], out int offsetHours) || !TryDigits(text[33..35], out int offsetMinutes))
        {
            return null;
        }
        try
        {
            var local = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Unspecified);
            var offset = new TimeSpan(offsetHours, offsetMinutes, 0);
            var utc = DateTime.SpecifyKind(text[29] == '+' ? local - offset : local + offset, DateTimeKind.Utc);
            return FormatTime(utc, nanos);
        }
        catch (ArgumentOutOfRangeException) { return null; }
    }

    private static bool TryDigits(ReadOnlySpan<byte> digits, out int value)
    {
        value = 0;
        foreach (byte d in digits)
        {
            if (d is < (byte)'0' or > (byte)'9') return false;
            value = value * 10 + (d - '0');
        }
        return true;
    }

    /// <summary>An entry read back (the line without its newline); null for a line that is not one.</summary>
    public static LogEntry? Read(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            byte[] log = [];
            var stream = StdStream.Stdout;
            DateTimeOffset? time = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("log"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String) return null;
                    log = Utf8Value(ref reader);
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    if (reader.ValueTextEquals("stderr"u8)) stream = StdStream.Stderr;
                }
                else if (reader.ValueTextEquals("time"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String
                        || !DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture,
                            DateTimeStyles.AssumeUniversal, out var parsed))
                    {
                        return null;
                    }
                    time = parsed;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            return time is { } t ? new LogEntry(t, stream, log) : null;
        }
        catch (JsonException) { return null; }
    }

    private static byte[] Utf8Value(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence) return reader.ValueSpan.ToArray();
        // Unescaped, a string is never longer in UTF-8 than its escaped text.
        int length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        var buffer = length <= 4096 ? stackalloc byte[length] : new byte[length];
        int written = reader.CopyString(buffer);
        return buffer[..written].ToArray();
    }
}

/// <summary>A growable byte buffer for building output without a copy per piece.</summary>
public sealed class ByteBuffer(int capacity = 64 * 1024)
{
    private byte[] _bytes = new byte[capacity];

    public int Length { get; private set; }
    public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);
    public ReadOnlyMemory<byte> Memory => _bytes.AsMemory(0, Length);

    public void Clear() => Length = 0;

    public void Append(byte b)
    {
        if (Length == _bytes.Length) Grow(1);
        _bytes[Length++] = b;
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (Length + bytes.Length > _bytes.Length) Grow(bytes.Length);
        bytes.CopyTo(_bytes.AsSpan(Length));
        Length += bytes.Length;
    }

    private void Grow(int more) => Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + more));
}
