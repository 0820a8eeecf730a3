using System.Runtime.InteropServices;
using Berth.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

public static class SystemEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapMethods("/_ping", ["GET", "HEAD"], async (HttpContext ctx) =>
        {
            var headers = ctx.Response.Headers;
            headers["Builder-Version"] = "1";
            headers["Swarm"] = "inactive";
            headers.CacheControl = "no-cache, no-store, must-revalidate";
            headers.Pragma = "no-cache";
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            if (ctx.Request.Method == "GET") await ctx.Response.WriteAsync("OK");
            else ctx.Response.ContentLength = 0;
        });

        app.MapGet("/version", async (HttpContext ctx) =>
        {
            string kernel = KernelVersion();
            var details = new Dictionary<string, string>
            {
                ["ApiVersion"] = ApiVersion.Current, ["Arch"] = "amd64", ["BuildTime"] = "", ["Experimental"] = "false",
                ["GitCommit"] = "berth", ["GoVersion"] = RuntimeInformation.FrameworkDescription, ["KernelVersion"] = kernel,
                ["MinAPIVersion"] = ApiVersion.Minimum, ["Os"] = "linux",
            };
            await DockerResults.Json(ctx, new
            {
                Platform = new { Name = "Berth Engine" },
                Components = new object[]
                {
                    new { Name = "Engine", Version = EngineInfo.Version, Details = details },
                    new { Name = engine.Runtime.Name, Version = "", Details = new { Path = engine.Runtime.Path } },
                },
                Version = EngineInfo.Version,
                ApiVersion = ApiVersion.Current,
                MinAPIVersion = ApiVersion.Minimum,
                GitCommit = "berth",
                GoVersion = RuntimeInformation.FrameworkDescription,
                Os = "linux",
                Arch = "amd64",
                KernelVersion = kernel,
                BuildTime = "",
            });
        });

        app.MapGet("/info", async (HttpContext ctx) =>
        {
            var containers = engine.Containers.All;
            int running = containers.Count(c => c.State.Running);
            var cgroups = engine.Containers.Runtime.Cgroups;
            await DockerResults.Json(ctx, new
            {
                ID = engine.EngineId,
                Containers = containers.Count,
                ContainersRunning = running,
                ContainersPaused = containers.Count(c => c.State.Paused),
                ContainersStopped = containers.Count - running,
                Images = engine.Images.List().Count,
                Driver = "overlay2",
                DriverStatus = new[] { new[] { "Backing Filesystem", "extfs" } },
                Plugins = new { Volume = new[] { "local" }, Network = new[] { "bridge", "null" }, Authorization = (string[]?)null, Log = new[] { "json-file" } },
                cgroups.Features.MemoryLimit, cgroups.Features.SwapLimit, CpuCfsPeriod = cgroups.Features.CpuCfs,
                CpuCfsQuota = cgroups.Features.CpuCfs, CPUShares = cgroups.Features.CpuShares, CPUSet = cgroups.Features.CpuSet,
                cgroups.Features.PidsLimit, IPv4Forwarding = true, BridgeNfIptables = false, BridgeNfIp6tables = false, Debug = false,
                NFd = Directory.GetFiles("/proc/self/fd").Length, cgroups.Features.OomKillDisable, NGoroutines = ThreadCount(),
                SystemTime = Engine.Store.DockerTimeConverter.Format(DateTimeOffset.UtcNow),
                LoggingDriver = engine.Options.LogDriver,
                CgroupDriver = "cgroupfs",
                CgroupVersion = ((int)cgroups.Version).ToString(System.Globalization.CultureInfo.InvariantCulture),
                NEventsListener = engine.Events.SubscriberCount,
                KernelVersion = KernelVersion(),
                OperatingSystem = OsName(),
                OSVersion = "",
                OSType = "linux",
                Architecture = RuntimeInformation.OSArchitecture == Architecture.X64 ? "x86_64" : RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
                IndexServerAddress = "",
                RegistryConfig = new { IndexConfigs = new { }, Mirrors = Array.Empty<string>() },
                NCPU = Environment.ProcessorCount,
                MemTotal = MemTotal(),
                GenericResources = (object?)null,
                DockerRootDir = engine.Options.DataRoot,
                HttpProxy = "", HttpsProxy = "", NoProxy = "",
                Name = Environment.MachineName,
                Labels = Array.Empty<string>(),
                ExperimentalBuild = false,
                ServerVersion = EngineInfo.Version,
                Runtimes = new Dictionary<string, object> { [engine.Runtime.Name] = new { path = engine.Runtime.Path } },
                DefaultRuntime = engine.Runtime.Name,
                Swarm = new { NodeID = "", NodeAddr = "", LocalNodeState = "inactive", ControlAvailable = false, Error = "", RemoteManagers = (object?)null },
                LiveRestoreEnabled = true,
                Isolation = "",
                InitBinary = Engine.Resources.ContainerResources.InitBinary() is null ? "" : "docker-init",
                ContainerdCommit = new { ID = "", Expected = "" },
                RuncCommit = new { ID = "", Expected = "" },
                InitCommit = new { ID = "", Expected = "" },
                SecurityOptions = engine.Containers.Runtime.Security.InfoOptions,
                Warnings = (string[]?)null,
            });
        });

        app.MapGet("/plugins/{name}/json", Task (string name) => throw new NotFoundException($"plugin \"{name}\" not found"));
        app.MapGet("/plugins", async (HttpContext ctx) => await DockerResults.Json(ctx, Array.Empty<object>()));

        // Berth's own: re-apply the whole firewall table from the store (`berth firewall-reload`).
        app.MapPost("/berth/firewall/reload", (HttpContext ctx) =>
        {
            engine.ApplyFirewall();
            DockerResults.NoContent(ctx);
        });
    }

    private static string KernelVersion()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return ""; }
    }

    private static string OsName()
    {
        try
        {
            foreach (string line in File.ReadLines("/etc/os-release"))
                if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal)) return line[12..].Trim('"');
        }
        catch (IOException) { }
        return "Linux";
    }

    private static long MemTotal()
    {
        foreach (string line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    private static int ThreadCount() => System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
}
