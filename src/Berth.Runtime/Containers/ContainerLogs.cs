using System.Globalization;
using System.Text.RegularExpressions;

namespace Berth.Runtime.Containers;

/// <summary>The json-file options Berth applies (`--log-opt max-size=10m --log-opt max-file=3`): at most
/// <see cref="MaxFiles"/> files of at most <see cref="MaxSize"/> bytes each. MaxSize 0: no cap.</summary>
public sealed partial record LogPolicy(long MaxSize, int MaxFiles)
{
    public static readonly LogPolicy Unlimited = new(0, 1);

    /// <summary>Berth's cap when neither the container nor the daemon sets one: the figures of Docker's "local"
    /// driver (json-file has no cap in Docker, and a chatty container fills the disk).</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultOptions =
        new Dictionary<string, string> { ["max-size"] = "20m", ["max-file"] = "5" };

    /// <summary>The log drivers whose options Berth reads; json-file is what Berth writes whatever the name.</summary>
    public static bool IsFileDriver(string type) => type is "" or "json-file" or "local" or "k8s-file";

    public bool Capped => MaxSize > 0;

    /// <summary>The "none" driver: the output goes nowhere and nothing can be read back.</summary>
    public bool Discard { get; init; }

    public static readonly LogPolicy Discarded = new(0, 1) { Discard = true };

    /// <summary>`--log-opt compress=true`: rotated files are gzipped (NAME.1.gz ...), as dockerd does.</summary>
    public bool Compress { get; init; }

    /// <summary>The local driver: Docker's file layout for it (local-logs/container.log), with json-file's lines in
    /// it (Docker's own framing for local is protobuf; Berth keeps one format for both).</summary>
    public bool Local { get; init; }

    /// <summary>A container started by a Berth before the json-file writer: its conmon truncates the spool at
    /// max-size × max-file, so the drain swaps the spool well before that.</summary>
    public bool LegacyConmonCap { get; init; }

    /// <summary>Options as json-file takes them; unknown keys and bad values are an ArgumentException.</summary>
    public static LogPolicy Parse(IReadOnlyDictionary<string, string> options, string driver = "json-file")
    {
        bool local = driver == "local";
        // Docker's local driver: 20m × 5, compressed, unless told otherwise.
        long maxSize = local ? 20 * 1024 * 1024 : 0;
        int maxFiles = local ? 5 : 1;
        bool compress = local;
        foreach (var (key, value) in options)
        {
            switch (key)
            {
                case "max-size":
                    maxSize = ParseSize(value);
                    break;
                case "max-file":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out maxFiles) || maxFiles < 1)
                    {
                        throw new ArgumentException(
                            $"invalid value for log opt max-file: \"{value}\": a whole number of at least 1");
                    }
                    break;
                case "compress":
                    if (!bool.TryParse(value, out compress))
                        throw new ArgumentException($"invalid value for log opt compress: \"{value}\"");
                    break;
                // Docker adds these as attributes to each json entry; Berth's log has no place for them.
                case "labels" or "labels-regex" or "env" or "env-regex" or "tag":
                    break;
                default:
                    throw new ArgumentException($"unknown log opt '{key}' for {driver} log driver");
            }
        }
        if (maxFiles > 1 && maxSize == 0) throw new ArgumentException("max-file cannot be set without max-size");
        if (compress && (maxFiles == 1 || maxSize == 0))
            throw new ArgumentException("compress cannot be true when max-file is less than 2 or max-size is not set");
        return maxSize == 0 ? Unlimited with { Local = local }
            : new LogPolicy(maxSize, maxFiles) { Compress = compress, Local = local };
    }

    /// <summary>Docker's sizes: "10k", "20m", "1g", "512", "1.5mb" (binary multiples).</summary>
    public static long ParseSize(string text)
    {
        var match = SizePattern().Match(text);
        decimal number = 0;
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out number))
        {
            throw new ArgumentException($"invalid value for log opt max-size: \"{text}\": a size such as 10k, 20m or 1g");
        }
        string unit = match.Groups[2].Value;
        int power = "bkmgtp".IndexOf(unit.Length > 0 ? char.ToLowerInvariant(unit[0]) : 'b');
        decimal bytes = number;
        for (int i = 0; i < power; i++) bytes *= 1024;
        if (bytes < 1 || bytes > long.MaxValue / 2)
            throw new ArgumentException($"invalid value for log opt max-size: \"{text}\": must be a positive size");
        return (long)bytes;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?$")]
    private static partial Regex SizePattern();

    /// <summary>The policy as kept in the bundle, so a restarted daemon adopts a running container's rotation.</summary>
    internal string Serialize() =>
        $"{MaxSize} {MaxFiles} {(Compress ? 1 : 0)} {(Discard ? "none" : Local ? "local" : "json-file")}";

    /// <summary>Two fields: written by a Berth whose conmon capped the log (<see cref="LegacyConmonCap"/>).</summary>
    internal static LogPolicy Deserialize(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length < 2 || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out long size) || size < 0
            || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int files) || files < 1)
        {
            return Unlimited;
        }
        if (parts.Length == 2) return size > 0 ? new LogPolicy(size, files) { LegacyConmonCap = true } : Unlimited;
        if (parts.Length > 3 && parts[3] == "none") return Discarded;
        return new LogPolicy(size, files) { Compress = parts[2] == "1", Local = parts.Length > 3 && parts[3] == "local" };
    }
}

/// <summary>The policy a container's log runs with, kept in its bundle so a restarted daemon drains and rotates a
/// running container's log as before.</summary>
public static class LogFiles
{
    private const string PolicyName = "log-policy";

    public static void SavePolicy(string bundle, LogPolicy policy) =>
        File.WriteAllText(Path.Combine(bundle, PolicyName), policy.Serialize());

    public static LogPolicy LoadPolicy(string bundle)
    {
        string path = Path.Combine(bundle, PolicyName);
        return File.Exists(path) ? LogPolicy.Deserialize(File.ReadAllText(path)) : LogPolicy.Unlimited;
    }
}
