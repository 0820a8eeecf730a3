namespace Berth.Engine.Containers;

/// <summary>Signal names as Docker accepts them ("KILL", "SIGKILL", "9").</summary>
public static class Signals
{
    public const int SIGKILL = 9, SIGTERM = 15;

    private static readonly Dictionary<string, int> Numbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21,
        ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28,
        ["IO"] = 29, ["PWR"] = 30, ["SYS"] = 31,
    };

    public static int Parse(string signal)
    {
        if (int.TryParse(signal, out int number) && number is > 0 and < 65) return number;
        string name = signal.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? signal[3..] : signal;
        if (Numbers.TryGetValue(name, out number)) return number;
        // Real-time signals: RTMIN, RTMIN+n, RTMAX-n, RTMAX, within 34..64.
        if (name.Equals("RTMIN", StringComparison.OrdinalIgnoreCase)) return 34;
        if (name.Equals("RTMAX", StringComparison.OrdinalIgnoreCase)) return 64;
        if (name.Length > 6 && int.TryParse(name[6..], System.Globalization.NumberStyles.None, null, out int offset) && offset <= 30)
        {
            if (name.StartsWith("RTMIN+", StringComparison.OrdinalIgnoreCase)) return 34 + offset;
            if (name.StartsWith("RTMAX-", StringComparison.OrdinalIgnoreCase)) return 64 - offset;
        }
        string shown = signal.Length <= 40 ? signal : signal[..40] + "...";
        throw new BadRequestException($"Invalid signal: {shown}");
    }
}
