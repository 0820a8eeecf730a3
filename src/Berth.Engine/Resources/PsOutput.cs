using System.Globalization;

namespace Berth.Engine.Resources;

/// <summary>`ps` output kept for a container's pids, as dockerd's top reads it: columns split on blanks, the last
/// title takes the rest of the line (the command with its arguments).</summary>
public static class PsOutput
{
    public static (List<string> Titles, List<List<string>> Processes) Filter(string output, IReadOnlySet<int> pids)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0) throw new FormatException("ps printed nothing");
        var titles = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        int pidIndex = titles.IndexOf("PID");
        if (pidIndex < 0) throw new FormatException("Couldn't find PID field in ps output");
        var processes = new List<List<string>>();
        foreach (string line in lines.Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length <= pidIndex || fields[pidIndex] == "-") continue;
            if (!int.TryParse(fields[pidIndex], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                throw new FormatException($"Unexpected pid '{fields[pidIndex]}': it is not a number");
            if (!pids.Contains(pid)) continue;
            int last = titles.Count - 1;
            var row = fields.Take(last).ToList();
            if (fields.Length > last) row.Add(string.Join(' ', fields.Skip(last)));
            processes.Add(row);
        }
        return (titles, processes);
    }
}
