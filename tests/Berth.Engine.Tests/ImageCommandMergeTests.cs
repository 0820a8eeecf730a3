using Berth.Engine.Containers;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class ImageCommandMergeTests
{
    private static readonly string[] ImageEntrypoint = ["/docker-entrypoint.sh"];
    private static readonly string[] ImageCmd = ["nginx", "-g", "daemon off;"];

    [Fact]
    public void Empty_arrays_take_the_images_cmd_as_Testcontainers_expects()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge([], [], null, ImageCmd);
        Assert.Null(entrypoint);
        Assert.Equal(ImageCmd, cmd);
    }

    [Fact]
    public void Absent_entrypoint_and_empty_cmd_take_both_from_the_image()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge(null, [], ImageEntrypoint, ImageCmd);
        Assert.Equal(ImageEntrypoint, entrypoint);
        Assert.Equal(ImageCmd, cmd);
    }

    [Fact]
    public void An_empty_entrypoint_array_clears_the_images_entrypoint_as_moby_does()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge([], ["sh"], ImageEntrypoint, ImageCmd);
        Assert.Null(entrypoint);
        Assert.Equal(["sh"], cmd);
    }

    [Fact]
    public void A_given_cmd_replaces_the_images_and_keeps_its_entrypoint()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge(null, ["echo", "hi"], ImageEntrypoint, ImageCmd);
        Assert.Equal(ImageEntrypoint, entrypoint);
        Assert.Equal(["echo", "hi"], cmd);
    }

    [Fact]
    public void A_given_entrypoint_drops_the_images_cmd()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge(["/bin/sh"], null, ImageEntrypoint, ImageCmd);
        Assert.Equal(["/bin/sh"], entrypoint);
        Assert.Null(cmd);
    }

    [Fact]
    public void Entrypoint_of_one_empty_string_means_none_and_no_image_cmd()
    {
        var (entrypoint, cmd) = ImageCommandMerge.Merge([""], ["ls"], ImageEntrypoint, ImageCmd);
        Assert.Null(entrypoint);
        Assert.Equal(["ls"], cmd);
        Assert.Equal((null, null), ImageCommandMerge.Merge([""], null, ImageEntrypoint, ImageCmd));
    }
}
