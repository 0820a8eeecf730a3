using Berth.Runtime.Images;

namespace Berth.Runtime.Build;

/// <summary>Dockerfile word processing for the builder (FROM names, COPY paths, ARG values): quotes and escapes
/// removed, $VAR and ${VAR:-word} expanded from <c>NAME=value</c> entries, later entries winning.</summary>
public static class BuildWords
{
    public static string Expand(string text, IReadOnlyList<string> env, char escape = '\\') => new ShellWords(env, escape).Word(text);

    public static List<string> Split(string text, IReadOnlyList<string> env, char escape = '\\') =>
        new ShellWords(env, escape).Words(text);
}
