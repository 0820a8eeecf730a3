using System.IO.Compression;

namespace Berth.Runtime.Containers;

/// <summary>One file of the log, opened (so a rotation after the opening does not move it away), and where reading
/// starts in it: a byte offset, then a number of lines to skip (a .gz file can only be counted through).</summary>
public sealed class OpenedLogFile(FileStream file, bool compressed) : IDisposable
{
    public FileStream File { get; } = file;
    public bool Compressed { get; } = compressed;
    public long Offset { get; set; }
    public long SkipLines { get; set; }

    /// <summary>The file's text from the start, decompressed.</summary>
    public Stream OpenFromStart()
    {
        File.Seek(0, SeekOrigin.Begin);
        return Compressed ? new GZipStream(File, CompressionMode.Decompress, leaveOpen: true) : File;
    }

    public static OpenedLogFile? TryOpen(string path, bool compressed)
    {
        try
        {
            return new OpenedLogFile(new FileStream(path, FileMode.Open, FileAccess.Read,
                FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None), compressed);
        }
        catch (FileNotFoundException) { return null; } // rotated away meanwhile
        catch (DirectoryNotFoundException) { return null; }
    }

    public void Dispose() => File.Dispose();
}

/// <summary>`logs --tail N`: the files are searched from the newest back, plain ones backwards in blocks (the cost
/// is that of the lines shown, not of the log), compressed ones counted through once.</summary>
public static class JsonLogTail
{
    private const int BlockSize = 64 * 1024;

    /// <summary>Sets where reading starts in each file (oldest first) so that the last <paramref name="lines"/>
    /// entries come out; returns the files that are needed.</summary>
    public static List<OpenedLogFile> Plan(IReadOnlyList<OpenedLogFile> files, int lines)
    {
        var plan = new List<OpenedLogFile>();
        long needed = lines;
        for (int i = files.Count - 1; i >= 0; i--)
        {
            var file = files[i];
            if (needed == 0)
            {
                if (i == files.Count - 1) // nothing old: start at the end of the newest file
                {
                    file.Offset = file.File.Length;
                    plan.Insert(0, file);
                }
                break;
            }
            long found;
            if (file.Compressed)
            {
                using var text = file.OpenFromStart();
                found = CountLines(text);
                file.SkipLines = Math.Max(0, found - needed);
            }
            else (file.Offset, found) = FindStart(file.File, needed);
            plan.Insert(0, file);
            needed -= Math.Min(found, needed);
        }
        return plan;
    }

    private static long CountLines(Stream text)
    {
        var block = new byte[BlockSize];
        long count = 0;
        int n;
        while ((n = text.Read(block)) > 0) count += block.AsSpan(0, n).Count((byte)'\n');
        return count;
    }

    /// <summary>The offset of the <paramref name="needed"/>-th complete line from the end, or 0 with the number of
    /// complete lines when the file holds fewer.</summary>
    public static (long Offset, long Found) FindStart(FileStream file, long needed)
    {
        long length = file.Length;
        var block = new byte[BlockSize];
        long found = 0;
        long position = length;
        bool last = true; // the newline that ends the last line starts nothing
        while (position > 0)
        {
            int size = (int)Math.Min(BlockSize, position);
            position -= size;
            int read = RandomAccess.Read(file.SafeFileHandle, block.AsSpan(0, size), position);
            for (int i = read - 1; i >= 0; i--)
            {
                if (block[i] != (byte)'\n') continue;
                if (last && position + i == length - 1)
                {
                    last = false;
                    continue;
                }
                last = false;
                if (++found == needed) return (position + i + 1, found);
            }
        }
        if (length > 0) found++; // the first line
        return (0, Math.Min(found, needed));
    }
}

/// <summary>Reads Docker's json-file lines from one file after another. A line never spans two files; a line not
/// yet complete at the end of the file is kept for the next read (follow). Memory is bounded: one block and one
/// line, and a line longer than any entry Berth writes is skipped.</summary>
public sealed class JsonLogReader(Stream stream)
{
    private const int MaxLine = 1024 * 1024;

    private Stream _stream = stream;
    private readonly byte[] _block = new byte[64 * 1024];
    private readonly ByteBuffer _line = new(4096);
    private bool _skipping;
    /// <summary>What the block held after the last skipped line.</summary>
    private byte[] _afterSkip = [];

    public void SwitchTo(Stream next)
    {
        _stream = next;
        _line.Clear();
        _skipping = false;
    }

    /// <summary>Skips whole lines (where a tail starts in a compressed file).</summary>
    public void SkipLines(long count)
    {
        while (count > 0)
        {
            int n = _stream.Read(_block);
            if (n == 0) return;
            int from = 0;
            while (count > 0 && from < n)
            {
                int newline = Array.IndexOf(_block, (byte)'\n', from, n - from);
                if (newline < 0) break;
                count--;
                from = newline + 1;
            }
            if (count == 0) _afterSkip = _block.AsSpan(from, n - from).ToArray();
        }
    }

    public IEnumerable<LogEntry> ReadAvailable()
    {
        if (_afterSkip.Length > 0)
        {
            var first = new List<LogEntry>();
            Take(_afterSkip, first);
            _afterSkip = [];
            foreach (var entry in first) yield return entry;
        }
        int n;
        while ((n = _stream.Read(_block)) > 0)
        {
            var entries = new List<LogEntry>();
            Take(_block.AsSpan(0, n), entries);
            foreach (var entry in entries) yield return entry;
        }
    }

    private void Take(ReadOnlySpan<byte> bytes, List<LogEntry> entries)
    {
        while (bytes.Length > 0)
        {
            int newline = bytes.IndexOf((byte)'\n');
            var piece = newline < 0 ? bytes : bytes[..newline];
            if (!_skipping)
            {
                if (_line.Length + piece.Length > MaxLine) _skipping = true;
                else _line.Append(piece);
            }
            if (newline < 0) return;
            if (!_skipping && JsonLogLine.Read(_line.Span) is { } entry) entries.Add(entry);
            _line.Clear();
            _skipping = false;
            bytes = bytes[(newline + 1)..];
        }
    }
}
