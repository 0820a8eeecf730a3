using Berth.Runtime.Files;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>A file that a running container grows or truncates while it is archived (commit --pause=false, cp out)
/// gives the size it had when its entry began: a tar writer copies a stream to its end after writing its length, so a
/// live length made an archive whose later headers were read from file data (CI saw "Unable to cast V7TarEntry to
/// PosixTarEntry" on a commit of a container rewriting a file in a loop).</summary>
public sealed class ChangingFileArchiveTests : IDisposable
{
    private readonly string _dir = Path.Combine("/tmp", TestNames.Unique("berth-chg-", 20));

    public ChangingFileArchiveTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(100, 5000)]
    [InlineData(5000, 100)]
    [InlineData(5000, 0)]
    public void The_stream_keeps_the_length_it_was_made_with(int before, int after)
    {
        string path = Path.Combine(_dir, "changing");
        File.WriteAllBytes(path, Enumerable.Repeat((byte)'a', before).ToArray());
        using var handle = File.OpenHandle(path);
        using var stream = new HandleReadStream(handle);
        Assert.Equal(before, stream.Length);
        File.WriteAllBytes(path, Enumerable.Repeat((byte)'b', after).ToArray());
        var read = new MemoryStream();
        stream.CopyTo(read);
        byte[] bytes = read.ToArray();
        Assert.Equal(before, bytes.Length);
        Assert.All(bytes.Take(Math.Min(before, after)), b => Assert.Equal((byte)'b', b));
        Assert.All(bytes.Skip(after), b => Assert.Equal(0, b)); // shrank: padded
    }
}
