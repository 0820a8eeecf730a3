using System.Security.Cryptography;
using System.Text;
using Berth.Runtime.Files;

namespace Berth.Engine.Build;

public sealed partial class ImageBuilder
{
    /// <summary>The files of an `ADD http://...`: each URL's body in its own directory under one scratch directory,
    /// named as the legacy builder names it, mode 0600 and mtime Last-Modified (the epoch without one), as dockerd
    /// leaves its download. The cache key is the content: dockerd downloads on every build and keys on the hash.</summary>
    private sealed class DownloadedSources : IDisposable
    {
        private readonly string _directory;

        private DownloadedSources(string directory) => _directory = directory;

        public RootedDirectory Root { get; private set; } = null!;
        /// <summary>"0/name", "1/name", ...: one per URL, in order.</summary>
        public List<string> Paths { get; } = new();
        /// <summary>The content's sha256 (of one download; of the names and hashes of several).</summary>
        public string Hash { get; private set; } = "";
        /// <summary>The names the files get: part of the cache key, as a name changes the layer.</summary>
        public string Names => string.Join(',', Paths);

        /// <summary>Unnamed downloads are "__unnamed__" as in moby, which a destination ending in "/" cannot take.</summary>
        public static async Task<DownloadedSources> GetAsync(IReadOnlyList<string> urls, string dest, string? checksum,
            string scratchRoot, CancellationToken ct)
        {
            string? expected = checksum is null ? null
                : checksum.StartsWith("sha256:", StringComparison.Ordinal) && checksum.Length == 71 && checksum[7..].All(char.IsAsciiHexDigitLower)
                    ? checksum[7..]
                    : throw new BuildException($"invalid checksum digest format: {checksum} (want sha256:<64 hex digits>)");
            if (expected is not null && urls.Count != 1) throw new BuildException("checksum can't be specified for multiple sources");
            var sources = new DownloadedSources(Path.Combine(scratchRoot, "download-" + Guid.NewGuid().ToString("N")[..12]));
            try
            {
                var key = new StringBuilder();
                string? single = null;
                for (int i = 0; i < urls.Count; i++)
                {
                    string directory = Path.Combine(sources._directory, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    Directory.CreateDirectory(directory);
                    var download = await RemoteDownload.GetAsync(urls[i], Path.Combine(directory, "download"), ct);
                    if (expected is not null && download.Sha256 != expected)
                        throw new BuildException($"digest mismatch sha256:{download.Sha256}: {checksum}");
                    string name = download.FileName
                        ?? (dest.EndsWith('/') ? throw new BuildException($"cannot determine filename for source {urls[i]}") : "__unnamed__");
                    string file = Path.Combine(directory, name);
                    File.Move(download.Path, file);
                    File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                    File.SetLastWriteTimeUtc(file, download.LastModified?.UtcDateTime ?? DateTime.UnixEpoch);
                    sources.Paths.Add($"{i}/{name}");
                    single = download.Sha256;
                    key.Append(name).Append(':').Append(download.Sha256).Append('\n');
                }
                sources.Hash = urls.Count == 1 ? single!
                    : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString()))).ToLowerInvariant();
                sources.Root = RootedDirectory.Open(sources._directory);
                return sources;
            }
            catch
            {
                sources.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Root?.Dispose();
            if (Directory.Exists(_directory)) RootedDirectory.RemoveTree(_directory);
        }
    }
}
