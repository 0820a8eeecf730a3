using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

public sealed partial class BuildTests
{
    /// <summary>COPY's cache key comes from the context as it streams in (the context is extracted only on a miss):
    /// a mode, a .dockerignore line, a file behind a symlink each miss; a touch alone hits, as with dockerd.</summary>
    [Fact]
    public void Copy_misses_on_a_mode_an_ignore_rule_or_a_file_behind_a_symlink_and_hits_on_a_touch()
    {
        string tag = TestNames.Unique("key", 12);
        string context = Context(
            ("Dockerfile", "FROM webapp:noexpose\nCOPY via/b.txt /via.txt\nCOPY src/ /src/\n" +
                           "CMD [\"sh\", \"-c\", \"stat -c '%n %a' /src/* && cat /via.txt\"]\n"),
            ("src/a.sh", "echo a\n"), ("src/b.txt", "b1\n"));
        File.CreateSymbolicLink(Path.Combine(context, "via"), "src");
        string Run() => EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout;
        int CacheHits() => EngineFixture.Check(Build(context, true, "-t", tag)).Stdout.Split(" ---> Using cache").Length - 1;

        EngineFixture.Check(Build(context, true, "-t", tag));
        Assert.Equal("/src/a.sh 644\n/src/b.txt 644\nb1\n", Run());
        File.SetLastWriteTimeUtc(Path.Combine(context, "src/a.sh"), DateTime.UtcNow.AddHours(-1));
        Assert.Equal(3, CacheHits());

        File.SetUnixFileMode(Path.Combine(context, "src/a.sh"), (UnixFileMode)0x1ed);
        Assert.Equal(1, CacheHits());
        Assert.Equal("/src/a.sh 755\n/src/b.txt 644\nb1\n", Run());

        File.WriteAllText(Path.Combine(context, "src/b.txt"), "b2\n");
        Assert.Equal(0, CacheHits()); // the first COPY reads b.txt through the symlink
        Assert.Equal("/src/a.sh 755\n/src/b.txt 644\nb2\n", Run());
        Assert.Equal(3, CacheHits());

        File.WriteAllText(Path.Combine(context, ".dockerignore"), "src/a.sh\n");
        Assert.Equal(1, CacheHits());
        Assert.Equal("/src/b.txt 644\nb2\n", Run());
    }
}
