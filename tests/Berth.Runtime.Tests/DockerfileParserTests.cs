using Berth.Runtime.Build;
using Xunit;

namespace Berth.Runtime.Tests;

public sealed class DockerfileParserTests
{
    [Fact]
    public void Continuations_comments_and_empty_continuation_lines_join_into_one_instruction()
    {
        var lines = DockerfileParser.Parse("# a comment\nFROM busybox AS base\nRUN echo a \\\n# inside\n\n    && echo b\nCMD [\"sh\"]\n");
        Assert.Equal(["FROM", "RUN", "CMD"], lines.Select(l => l.Keyword));
        Assert.Equal("RUN echo a     && echo b", lines[1].Original);
        Assert.Equal(["sh"], lines[2].Json!);
        Assert.Null(lines[1].Json);
    }

    [Fact]
    public void The_escape_directive_makes_the_backtick_the_continuation()
    {
        var lines = DockerfileParser.Parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\n");
        Assert.Equal("RUN dir c:\\   /w", lines[1].Original);
        Assert.Throws<DockerfileException>(() => DockerfileParser.Parse("# escape=x\nFROM x\n"));
    }

    [Fact]
    public void The_escape_directive_applies_to_word_processing_too()
    {
        var lines = DockerfileParser.Parse("# escape=`\nFROM x\nENV P=C:\\dir Q=a`$b\n");
        Assert.Equal('`', lines[1].Escape);
        var config = new Berth.Runtime.Images.ImageConfig();
        Berth.Runtime.Images.ImageChanges.ApplyBuildInstruction(config, lines[1].Original, [], lines[1].Escape);
        Assert.Equal(["P=C:\\dir", "Q=a$b"], config.Env!);
        Assert.Equal("C:\\dir a$b", BuildWords.Expand("C:\\dir a`$b", [], '`'));
        Assert.Equal("C:dir $b", BuildWords.Expand("C:\\dir \\$b", []));
    }

    [Fact]
    public void Flags_are_taken_only_where_the_instruction_has_them()
    {
        var copy = DockerfileParser.Parse("FROM x\ncopy --from=build --chown=1:2 a b\nCMD --help\n");
        Assert.Equal("COPY", copy[1].Keyword);
        Assert.Equal("build", copy[1].Flag("from"));
        Assert.Equal("1:2", copy[1].Flag("chown"));
        Assert.Equal("a b", copy[1].Arguments);
        Assert.Equal("--help", copy[2].Arguments);
        Assert.Throws<DockerfileException>(() => DockerfileParser.Parse("FROM x\nCOPY --from a b\n")[1].Flag("from"));
    }

    [Fact]
    public void Unknown_instructions_and_empty_files_are_errors_with_dockers_wording()
    {
        var e = Assert.Throws<DockerfileException>(() => DockerfileParser.Parse("FROM x\nFOO bar\n"));
        Assert.Equal("dockerfile parse error on line 2: unknown instruction: FOO", e.Message);
        Assert.Throws<DockerfileException>(() => DockerfileParser.Parse("# only a comment\n\n"));
    }

    [Fact]
    public void Invalid_json_is_the_shell_form()
    {
        Assert.Null(DockerfileParser.JsonForm("[\"a\", 1]"));
        Assert.Null(DockerfileParser.JsonForm("[not json"));
        Assert.Equal(["a", "b"], DockerfileParser.JsonForm("[\"a\",\"b\"]")!);
    }

    [Fact]
    public void Words_expand_build_args_and_env_with_defaults()
    {
        Assert.Equal("busybox:1.36", BuildWords.Expand("${IMAGE:-busybox}:$TAG", ["TAG=1.36"]));
        Assert.Equal(["a b", "c"], BuildWords.Split("\"a b\" $X", ["X=c"]));
        Assert.Equal("env", BuildWords.Expand("$V", ["V=arg", "V=env"])); // later (Env) wins over the build arg
    }

    [Fact]
    public void Dockerignore_rules_match_parents_globs_and_exceptions()
    {
        var rules = new IgnoreRules("# comment\n*.log\n!keep.log\nnode_modules\n**/*.tmp\n/build/out\n");
        Assert.True(rules.Ignores("a.log"));
        Assert.False(rules.Ignores("keep.log"));
        Assert.False(rules.Ignores("dir/a.log")); // * does not cross a slash
        Assert.True(rules.Ignores("node_modules/x/y.js"));
        Assert.True(rules.Ignores("deep/er/x.tmp"));
        Assert.True(rules.Ignores("x.tmp"));
        Assert.True(rules.Ignores("build/out/file"));
        Assert.False(rules.Ignores("src/main.c"));
    }
}
