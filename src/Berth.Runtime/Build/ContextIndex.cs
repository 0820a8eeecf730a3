using System.Buffers.Binary;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Berth.Runtime.Images;

namespace Berth.Runtime.Build;

/// <summary>A build context read once as it arrives: every path's metadata and content hash (as the legacy builder's
/// tarsum: type, mode, size, link target and content; not the time, not the owner, which COPY sets), and the content of
/// the few files the builder reads itself (the Dockerfile, .dockerignore). COPY finds its sources and its cache key
/// here, so a fully cached build never writes the context to disk. The tree is the one
/// <see cref="LayerExtractor"/> would make of the same tar (later entries replace earlier ones, missing parents
/// appear as 0755 directories, ".wh." names are whiteouts), and what it would refuse is refused here
/// (<see cref="ImageException"/>).</summary>
public sealed class ContextIndex
{
    /// <summary>The most the builder reads of a file it keeps (a Dockerfile).</summary>
    public const int KeptFileLimit = 16 << 20;

    private const int DirectoryDefault = 0x1ed;

    private readonly Node _root = Node.Directory(DirectoryDefault);
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);
    private readonly HashSet<string> _keep;
    private readonly Dictionary<string, byte[]> _kept = new(StringComparer.Ordinal);

    private ContextIndex(IEnumerable<string> keep) =>
        _keep = keep.Select(LayerExtractor.Clean).ToHashSet(StringComparer.Ordinal);

    /// <summary>Reads an uncompressed tar to its end; the content of regular files named in <paramref name="keep"/>
    /// (up to <see cref="KeptFileLimit"/> bytes) is kept for <see cref="TryReadFile"/>.</summary>
    /// <summary>True when every path came once, as a directory, a regular file or a symlink: the tar read in order is
    /// then the tree itself, and COPY may take its sources straight from it.</summary>
    public bool Plain { get; private set; } = true;

    public static async Task<ContextIndex> ReadAsync(Stream tar, IEnumerable<string> keep, CancellationToken ct)
    {
        var index = new ContextIndex(keep);
        var reader = new TarReader(tar, leaveOpen: true);
        try
        {
            TarEntry? entry;
            while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
                await index.AddAsync(entry, ct);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new ImageException($"invalid tar archive: {e.Message}");
        }
        return index;
    }

    /// <summary>The entries of a context tar in order, each with its cleaned path (the root itself and the format's
    /// own header entries left out).</summary>
    public static async Task ReadEntriesAsync(Stream tar, Func<TarEntry, string, Task> visit, CancellationToken ct)
    {
        var reader = new TarReader(tar, leaveOpen: true);
        TarEntry? entry;
        while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
        {
            if (entry.EntryType is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes
                or TarEntryType.LongLink or TarEntryType.LongPath) continue;
            string relative = LayerExtractor.Clean(entry.Name);
            if (relative.Length > 0) await visit(entry, relative);
        }
    }

    // ------------------------------------------------------------------ reading the tar

    private async Task AddAsync(TarEntry entry, CancellationToken ct)
    {
        var type = entry.EntryType;
        if (type is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes or TarEntryType.LongLink or TarEntryType.LongPath)
            return;
        if (type == TarEntryType.SparseFile) throw new ImageException($"invalid layer: sparse file {entry.Name} is not supported");
        if (type is TarEntryType.V7RegularFile && entry.Name.EndsWith('/')) type = TarEntryType.Directory;
        string relative = LayerExtractor.Clean(entry.Name);
        uint mode = (uint)entry.Mode & 0xfff;
        if (relative.Length == 0)
        {
            if (type == TarEntryType.Directory) _root.Mode = mode;
            return;
        }
        if (!_written.Add(relative) || type is not (TarEntryType.Directory or TarEntryType.RegularFile
                or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile or TarEntryType.SymbolicLink))
            Plain = false;
        int slash = relative.LastIndexOf('/');
        var parent = ParentFor(relative, slash < 0 ? "" : relative[..slash]);
        string name = relative[(slash + 1)..];
        if (name.StartsWith(".wh.", StringComparison.Ordinal))
        {
            // As the extractor: ".wh.x" puts a 0:0 character device in x's place; ".wh..wh.*" (an opaque marker, aufs
            // bookkeeping) changes nothing COPY reads.
            Plain = false;
            if (name.StartsWith(".wh..wh.", StringComparison.Ordinal)) return;
            string hidden = name[4..];
            if (hidden.Length == 0 || hidden is "." or "..") throw new ImageException($"invalid layer: whiteout {entry.Name}");
            parent.Children![hidden] = new Node { Type = TarEntryType.CharacterDevice };
            return;
        }
        switch (type)
        {
            case TarEntryType.Directory:
                if (parent.Children!.TryGetValue(name, out var existing) && existing.Children is not null) existing.Mode = mode;
                else parent.Children[name] = Node.Directory(mode);
                return;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                parent.Children![name] = new Node
                {
                    Type = TarEntryType.RegularFile, Mode = mode, Size = entry.Length,
                    Content = await ContentHashAsync(entry, relative, ct),
                };
                return;
            case TarEntryType.SymbolicLink:
                parent.Children![name] = new Node { Type = type, Mode = 0x1ff, Link = entry.LinkName };
                return;
            case TarEntryType.HardLink:
                // A hard link is its target's inode: the content and mode it has now, whatever later entries do.
                string target = LayerExtractor.Clean(entry.LinkName);
                var node = target.Length == 0 ? null : Resolve(target, out _);
                if (node is null || node.Children is not null)
                    throw new ImageException($"invalid layer: hard link {entry.Name} to {entry.LinkName}: no such file in the layer");
                if (target != relative)
                    parent.Children![name] = node with { Link = "=" + target };
                return;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                var (major, minor) = LayerExtractor.DeviceNumbers(entry);
                parent.Children![name] = new Node { Type = type, Mode = mode, Major = major, Minor = minor };
                return;
            default:
                return; // the extractor skips it too
        }
    }

    /// <summary>The directory node for entries under <paramref name="path"/>, made (0755) when missing; an entry
    /// below a symlink or a file is refused, as the extractor refuses it.</summary>
    private Node ParentFor(string entryName, string path)
    {
        var node = _root;
        if (path.Length == 0) return node;
        foreach (string part in path.Split('/'))
        {
            if (!node.Children!.TryGetValue(part, out var child))
                node.Children[part] = child = Node.Directory(DirectoryDefault);
            if (child.Children is null)
                throw new ImageException($"invalid layer: {entryName} lies below {path}, which is not a directory");
            node = child;
        }
        return node;
    }

    private async Task<byte[]> ContentHashAsync(TarEntry entry, string relative, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (entry.DataStream is null) return hash.GetHashAndReset();
        var keep = _keep.Contains(relative) && entry.Length <= KeptFileLimit ? new MemoryStream() : null;
        var buffer = new byte[Math.Clamp(entry.Length, 1, 1 << 16)];
        int read;
        while ((read = await entry.DataStream.ReadAsync(buffer, ct)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            keep?.Write(buffer, 0, read);
        }
        if (keep is not null) _kept[relative] = keep.ToArray();
        else _kept.Remove(relative);
        return hash.GetHashAndReset();
    }

    // ------------------------------------------------------------------ questions of the builder

    /// <summary>The content of a kept regular file. False when the index cannot tell (the path is a symlink or a
    /// hard link, or one lies on the way, or it is larger than <see cref="KeptFileLimit"/>): read it from the
    /// extracted context then. True with null when there is no such file.</summary>
    public bool TryReadFile(string path, out byte[]? content)
    {
        string relative = LayerExtractor.Clean(path);
        content = null;
        var node = Resolve(relative, out bool symlink);
        if (symlink) return false;
        if (node is null || node.Children is not null) return true; // no file of that name
        if (node.Type is not TarEntryType.RegularFile || node.Link.Length > 0) return false;
        return _kept.TryGetValue(relative, out content);
    }

    /// <summary>The paths a COPY source names, as the builder finds them in the extracted context: itself when it
    /// exists, or what its glob matches component by component (Go's filepath.Match), ignored paths left out. Null
    /// when a symlink is on the way or matched (the extracted context must answer, symlinks resolved in it).</summary>
    public List<string>? Glob(string pattern, IgnoreRules? ignore)
    {
        if (pattern.IndexOfAny(['*', '?', '[']) < 0)
        {
            if (pattern.Length > 0 && ignore?.Ignores(pattern) == true) return [];
            var node = Resolve(pattern, out bool symlink);
            return symlink ? null : node is null ? [] : [pattern];
        }
        var results = new List<string> { "" };
        foreach (string part in pattern.Split('/'))
        {
            var next = new List<string>();
            var regex = ComponentPattern(part);
            foreach (string dir in results)
            {
                var node = Resolve(dir, out bool symlink);
                if (symlink) return null;
                if (node?.Children is null) continue;
                foreach (var (name, child) in node.Children)
                {
                    if (!regex.IsMatch(name)) continue;
                    if (child.Type == TarEntryType.SymbolicLink) return null;
                    next.Add(dir.Length == 0 ? name : dir + "/" + name);
                }
            }
            results = next;
        }
        return results.Where(r => ignore?.Ignores(r) != true).ToList();
    }

    /// <summary>One component of a COPY glob (Go's filepath.Match) as a regex.</summary>
    public static Regex ComponentPattern(string part) =>
        new("^" + Regex.Escape(part).Replace(@"\*", "[^/]*").Replace(@"\?", "[^/]").Replace(@"\[", "[") + "$");

    /// <summary>What COPY copies of <paramref name="paths"/> (found by <see cref="Glob"/>), hashed: each path's node
    /// and, for a directory, everything below it that <paramref name="ignore"/> keeps, names relative to the path.
    /// Equal hashes, equal copies (times and owners aside).</summary>
    public string Hash(IReadOnlyList<string> paths, IgnoreRules? ignore)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string path in paths)
        {
            var node = Resolve(path, out _) ?? throw new ArgumentException($"{path} is not in the context", nameof(paths));
            Append(hash, "\u0001" + path);
            AddTree(hash, node, path, ".", ignore);
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>True when <paramref name="path"/> is a directory of the context.</summary>
    public bool IsDirectory(string path) => Resolve(path, out _)?.Children is not null;

    private static void AddTree(IncrementalHash hash, Node node, string contextPath, string name, IgnoreRules? ignore)
    {
        Append(hash, name);
        Span<byte> meta = stackalloc byte[1 + 4 + 8 + 4 + 4];
        meta[0] = (byte)node.Type;
        BinaryPrimitives.WriteUInt32LittleEndian(meta[1..], node.Mode);
        BinaryPrimitives.WriteInt64LittleEndian(meta[5..], node.Size);
        BinaryPrimitives.WriteInt32LittleEndian(meta[13..], node.Major);
        BinaryPrimitives.WriteInt32LittleEndian(meta[17..], node.Minor);
        hash.AppendData(meta);
        Append(hash, node.Link);
        if (node.Content is not null) hash.AppendData(node.Content);
        if (node.Children is null) return;
        foreach (var (childName, child) in node.Children)
        {
            string childPath = contextPath.Length == 0 ? childName : contextPath + "/" + childName;
            if (ignore?.Ignores(childPath) == true) continue; // the archive skips it with all it holds
            AddTree(hash, child, childPath, name + "/" + childName, ignore);
        }
        Append(hash, "\u0002"); // end of this directory: moving a file up a level changes the hash
    }

    private static void Append(IncrementalHash hash, string text)
    {
        hash.AppendData(Encoding.UTF8.GetBytes(text));
        hash.AppendData([0]);
    }

    /// <summary>The node at a clean relative path ("" is the root), or null; <paramref name="symlink"/> when a
    /// symlink is on the way or is the node itself (the index does not follow links).</summary>
    private Node? Resolve(string path, out bool symlink)
    {
        symlink = false;
        var node = _root;
        if (path.Length == 0) return node;
        foreach (string part in path.Split('/'))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out var child)) return null;
            if (child.Type == TarEntryType.SymbolicLink) { symlink = true; return null; }
            node = child;
        }
        return node;
    }

    private sealed record Node
    {
        public TarEntryType Type { get; init; }
        public uint Mode { get; set; }
        public long Size { get; init; }
        public string Link { get; init; } = "";
        public int Major { get; init; }
        public int Minor { get; init; }
        public byte[]? Content { get; init; }
        /// <summary>Set for a directory: its entries by name, in ordinal order as the archive walks them.</summary>
        public SortedDictionary<string, Node>? Children { get; init; }

        public static Node Directory(uint mode) =>
            new() { Type = TarEntryType.Directory, Mode = mode, Children = new(StringComparer.Ordinal) };
    }
}
