using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth version` and `berth info` (the short form of docker's).</summary>
public static class SystemCommands
{
    public static IEnumerable<Command> Create() => [VersionCommand(), InfoCommand()];

    private static string Arch => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        var other => other.ToString().ToLowerInvariant(),
    };

    private static Command VersionCommand()
    {
        var format = new Option<string?>("--format", "-f") { Description = "Format the server's /version reply with a template. " + Containers.TemplateHelp };
        var version = new Command("version", "Show the Berth client and engine versions") { format };
        return version.Action(async (parse, api, ct) =>
        {
            var sb = new StringBuilder();
            sb.Append("Client:\n");
            Line(sb, " ", "Version:", Api.EngineInfo.Version, 19);
            Line(sb, " ", "API version:", api.Version, 19);
            Line(sb, " ", ".NET version:", RuntimeInformation.FrameworkDescription, 19);
            Line(sb, " ", "OS/Arch:", $"linux/{Arch}", 19);
            Line(sb, " ", "Host:", api.Host, 19);
            JsonNode? server;
            try { server = await api.GetJsonAsync("/version", ct); }
            catch (ApiException e)
            {
                Console.Out.Write(sb.ToString());
                throw new CliException("Error response from daemon: " + e.Message);
            }
            if (parse.GetValue(format) is { Length: > 0 } fmt)
            {
                Console.Out.WriteLine(GoTemplate.Parse(fmt).Execute(server));
                return 0;
            }
            sb.Append('\n').Append($"Server: {server?["Platform"].Str("Name") ?? ""}".TrimEnd()).Append('\n');
            foreach (var component in server?["Components"] as JsonArray ?? [])
            {
                sb.Append($" {component.Str("Name")}:\n");
                string? apiVersion = component?["Details"].Str("ApiVersion");
                Line(sb, "  ", "Version:", component.Str("Version") ?? "", 18);
                if (apiVersion is not null)
                {
                    Line(sb, "  ", "API version:", $"{apiVersion} (minimum version {component?["Details"].Str("MinAPIVersion")})", 18);
                    Line(sb, "  ", "Runtime:", component?["Details"].Str("GoVersion") ?? "", 18);
                    Line(sb, "  ", "Git commit:", component?["Details"].Str("GitCommit") ?? "", 18);
                    Line(sb, "  ", "OS/Arch:", $"{component?["Details"].Str("Os")}/{component?["Details"].Str("Arch")}", 18);
                    Line(sb, "  ", "Kernel version:", component?["Details"].Str("KernelVersion") ?? "", 18);
                }
                else if (component?["Details"].Str("Path") is { } path) Line(sb, "  ", "Path:", path, 18);
            }
            Console.Out.Write(sb.ToString());
            return 0;
        });
    }

    private static void Line(StringBuilder sb, string indent, string label, string value, int width) =>
        sb.Append(indent).Append(label.PadRight(width)).Append(value).Append('\n');

    private static Command InfoCommand()
    {
        var format = new Option<string?>("--format", "-f") { Description = "Format the server's /info reply with a template. " + Containers.TemplateHelp };
        var info = new Command("info", "Display engine-wide information (short)") { format };
        return info.Action(async (parse, api, ct) =>
        {
            var i = await api.GetJsonAsync("/info", ct);
            if (parse.GetValue(format) is { Length: > 0 } fmt)
            {
                Console.Out.WriteLine(GoTemplate.Parse(fmt).Execute(i));
                return 0;
            }
            string V(string name) => GoTemplate.Show(i?[name]);
            var sb = new StringBuilder();
            sb.Append("Client:\n");
            sb.Append($" Version:    {Api.EngineInfo.Version}\n");
            sb.Append($" Host:       {api.Host}\n");
            sb.Append("\nServer:\n");
            sb.Append($" Containers: {V("Containers")}\n");
            sb.Append($"  Running: {V("ContainersRunning")}\n");
            sb.Append($"  Paused: {V("ContainersPaused")}\n");
            sb.Append($"  Stopped: {V("ContainersStopped")}\n");
            sb.Append($" Images: {V("Images")}\n");
            sb.Append($" Server Version: {V("ServerVersion")}\n");
            sb.Append($" Storage Driver: {V("Driver")}\n");
            sb.Append($" Logging Driver: {V("LoggingDriver")}\n");
            sb.Append($" Cgroup Driver: {V("CgroupDriver")}\n");
            sb.Append($" Cgroup Version: {V("CgroupVersion")}\n");
            sb.Append($" Runtimes: {string.Join(' ', (i?["Runtimes"] as JsonObject ?? new JsonObject()).Select(kv => kv.Key))}\n");
            sb.Append($" Default Runtime: {V("DefaultRuntime")}\n");
            sb.Append($" Kernel Version: {V("KernelVersion")}\n");
            sb.Append($" Operating System: {V("OperatingSystem")}\n");
            sb.Append($" OSType: {V("OSType")}\n");
            sb.Append($" Architecture: {V("Architecture")}\n");
            sb.Append($" CPUs: {V("NCPU")}\n");
            sb.Append($" Total Memory: {Formatting.BytesSize(i?["MemTotal"]?.GetValue<long>() ?? 0)}\n");
            sb.Append($" Name: {V("Name")}\n");
            sb.Append($" ID: {V("ID")}\n");
            sb.Append($" Docker Root Dir: {V("DockerRootDir")}\n");
            sb.Append($" Live Restore Enabled: {V("LiveRestoreEnabled")}\n");
            if (i?["Warnings"] is JsonArray { Count: > 0 } warnings)
                foreach (var w in warnings) sb.Append($"{GoTemplate.Show(w)}\n");
            Console.Out.Write(sb.ToString());
            return 0;
        });
    }
}
