using System.Formats.Tar;
using Berth.Engine.Containers;
using Berth.Runtime.Build;
using Berth.Runtime.Files;
using Berth.Runtime.Images;

namespace Berth.Engine.Build;

/// <summary>The context of one build: the tar, uncompressed, in one scratch file, indexed as it arrived
/// (<see cref="ContextIndex"/>). It is extracted to a directory only when a step needs the files themselves (a COPY
/// that misses the cache): writing a thousand small files and removing them again was most of a cached build.</summary>
internal sealed class BuildContext : IDisposable
{
    private readonly string _spool, _directory;
    private RootedDirectory? _files;

    private BuildContext(string scratch)
    {
        _spool = scratch + ".tar";
        _directory = scratch;
    }

    public ContextIndex Index { get; private set; } = null!;

    /// <summary>Takes in the request body (a tar, plain or compressed); the content of <paramref name="keep"/> is
    /// kept in the index. A broken or hostile archive is a <see cref="BadRequestException"/>.</summary>
    public static async Task<BuildContext> ReceiveAsync(Stream body, string scratchRoot, IEnumerable<string> keep, CancellationToken ct)
    {
        var context = new BuildContext(Path.Combine(scratchRoot, "context-" + Guid.NewGuid().ToString("N")[..12]));
        try
        {
            using var handle = File.OpenHandle(context._spool, FileMode.CreateNew, FileAccess.ReadWrite);
            await ImageStore.SpoolContextAsync(body, handle, ct);
            await using var tar = new HandleReadStream(handle);
            context.Index = await ContextIndex.ReadAsync(tar, keep, ct);
            return context;
        }
        catch (Exception e) when (e is ImageException or InvalidDataException)
        {
            context.Dispose();
            throw new BadRequestException($"invalid build context: {e.Message}");
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The context's files, extracted by the layer extractor on first use.</summary>
    public async Task<RootedDirectory> FilesAsync(CancellationToken ct)
    {
        if (_files is not null) return _files;
        Directory.CreateDirectory(_directory);
        await using (var tar = File.OpenRead(_spool)) await ImageStore.ExtractContextAsync(tar, _directory, ct);
        return _files = RootedDirectory.Open(_directory);
    }

    /// <summary>The context's entries in the order they came, each with its cleaned path (the root itself left out);
    /// read from the spool, nothing extracted. Meant for a <see cref="ContextIndex.Plain"/> index, whose entries are
    /// the tree.</summary>
    public async Task ReadEntriesAsync(Func<TarEntry, string, Task> visit, CancellationToken ct)
    {
        await using var spool = new FileStream(_spool, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        await ContextIndex.ReadEntriesAsync(spool, visit, ct);
    }

    public void Dispose()
    {
        _files?.Dispose();
        File.Delete(_spool);
        if (Directory.Exists(_directory)) RootedDirectory.RemoveTree(_directory);
    }
}
