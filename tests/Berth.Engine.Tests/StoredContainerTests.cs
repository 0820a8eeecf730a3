using System.Collections;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>The container record on disk: a versioned envelope apart from the API's types (ContainerRecordCodec).</summary>
public sealed class StoredContainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "berth-stored-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private RecordStore<ContainerRecord> Open(Microsoft.Extensions.Logging.ILogger? logger = null) =>
        new(_dir, c => c.Id, "state.json", logger, ContainerRecordCodec.Instance);

    private string WriteFile(string id, string content)
    {
        string path = Path.Combine(_dir, id, "state.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A record exactly as main wrote it before the envelope (schema 1: the API's types serialized), taken
    /// from a running engine's data root.</summary>
    private const string SchemaOneRecord = """
        {
          "Id": "00970dc46a6f1d9cb938c6598be36dbd9a40404a73e1185f8bcaf13a61d0dabb",
          "Name": "berth-plain-c28",
          "Created": "2026-11-30T03:18:02.728195200Z",
          "Path": "/bin/httpd",
          "Args": ["-f", "-p", "80", "-h", "/www"],
          "ImageId": "sha256:7b757d8edac8eec99ae042ced29bf19414fe381132ebf590c85169732492f5ef",
          "Config": {
            "Hostname": "00970dc46a6f",
            "Domainname": "",
            "User": "",
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "Env": null,
            "Cmd": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
            "Image": "webapp:noexpose",
            "Volumes": null,
            "WorkingDir": "",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": {}
          },
          "HostConfig": {
            "Binds": null,
            "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "20m", "max-file": "5"}},
            "NetworkMode": "bdns7ef1-net",
            "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": false,
            "VolumeDriver": "",
            "VolumesFrom": null,
            "CapAdd": null,
            "CapDrop": null,
            "CgroupnsMode": "host",
            "Dns": ["127.0.117.2"],
            "DnsOptions": [],
            "DnsSearch": [],
            "ExtraHosts": null,
            "GroupAdd": null,
            "IpcMode": "private",
            "Cgroup": "",
            "Links": null,
            "OomScoreAdj": 0,
            "PidMode": "",
            "Privileged": false,
            "PublishAllPorts": false,
            "ReadonlyRootfs": false,
            "SecurityOpt": null,
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": 67108864,
            "Runtime": "runc",
            "ConsoleSize": [0, 0],
            "Isolation": "",
            "CpuShares": 0,
            "Memory": 0,
            "NanoCpus": 0,
            "CgroupParent": "",
            "PidsLimit": 0,
            "MaskedPaths": ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware"],
            "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "MemoryReservation": 0,
            "MemorySwap": 0,
            "MemorySwappiness": null,
            "KernelMemory": 0,
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "CpusetCpus": "",
            "CpusetMems": "",
            "CpuCount": 0,
            "CpuPercent": 0,
            "BlkioWeight": 0,
            "Devices": [],
            "DeviceCgroupRules": null,
            "OomKillDisable": false,
            "Ulimits": []
          },
          "State": {
            "Status": "running",
            "Running": true,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": 1470,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": "2026-11-30T03:18:03.207711100Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "ProcessBootId": "0765b777-28da-4613-8518-7e1fc98b85e3",
            "ProcessStartTime": 2064284,
            "ManuallyStopped": false,
            "Health": null
          },
          "Endpoints": [
            {"NetworkId": "544e28adbc00a07083ebb1e38125e80c8252101ffe783c1c72e7e3fc14e40eef", "NetworkName": "bdns7ef1-net", "EndpointId": "2de7c672c6f3d31d8cae53ab2066a40934677df75934246642ad8af8c933978a", "IPAddress": "10.216.98.30", "PrefixLength": 24, "Gateway": "10.216.98.1", "MacAddress": "02:42:0a:d8:62:1e", "InterfaceName": "eth0", "HostVeth": "veth00970dc46a6", "Aliases": null}
          ],
          "RequestedNetworks": {"bdns7ef1-net": null},
          "Ports": [],
          "SandboxKey": "/run/berth/netns/00970dc46a6f",
          "RestartCount": 0,
          "Runtime": "runc",
          "Mounts": [],
          "ShortId": "00970dc46a6f"
        }
        """;

    [Fact]
    public void A_record_written_before_the_envelope_loads_and_is_rewritten_in_the_current_schema()
    {
        string id = "00970dc46a6f1d9cb938c6598be36dbd9a40404a73e1185f8bcaf13a61d0dabb";
        string path = WriteFile(id, SchemaOneRecord);

        var store = Open();
        var record = store.Get(id)!;
        Assert.Equal("berth-plain-c28", record.Name);
        Assert.Equal(["-f", "-p", "80", "-h", "/www"], record.Args);
        Assert.Equal("webapp:noexpose", record.Config.Image);
        Assert.Equal("/bin/httpd", record.Config.Cmd![0]);
        Assert.Equal("20m", record.HostConfig.LogConfig.Config["max-size"]);
        Assert.Equal(67108864, record.HostConfig.ShmSize);
        Assert.Equal(12, record.HostConfig.MaskedPaths!.Count);
        Assert.True(record.State.Running);
        Assert.Equal("0765b777-28da-4613-8518-7e1fc98b85e3", record.State.ProcessBootId);
        Assert.Equal(2064284UL, record.State.ProcessStartTime);
        Assert.Equal(DateTimeOffset.MinValue, record.State.FinishedAt);
        Assert.Equal("10.216.98.30", Assert.Single(record.Endpoints).IPAddress);
        Assert.True(record.RequestedNetworks.ContainsKey("bdns7ef1-net"));
        Assert.Empty(record.Mounts!);

        store.Save(record);
        var file = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.Equal(ContainerRecordCodec.CurrentSchema, (int)file["SchemaVersion"]!);
        Assert.False(file.ContainsKey("ShortId"));
        Assert.Equal(Plain(record), Plain(Open().Get(id)!));
    }

    [Fact]
    public void A_record_from_a_newer_berth_is_moved_aside_with_a_warning_and_the_others_load()
    {
        var store = Open();
        string good = new('a', 64), newer = new('f', 64);
        store.Save(new ContainerRecord { Id = good, Name = "good" });
        string content = $$"""{"SchemaVersion": {{ContainerRecordCodec.CurrentSchema + 1}}, "Id": "{{newer}}", "Name": "n"}""";
        string path = WriteFile(newer, content);

        var logger = new StoreTests.ListLogger();
        var reloaded = Open(logger);

        Assert.Equal("good", Assert.Single(reloaded.All).Name);
        Assert.False(File.Exists(path));
        string aside = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!, "state.json.newer-*"));
        Assert.Equal(content, File.ReadAllText(aside));
        Assert.True(RecordStore<ContainerRecord>.HasSetAside(Path.GetDirectoryName(path)!, "state.json"));
        Assert.Contains(logger.Messages, m => m.Contains(path) && m.Contains("newer Berth") && m.Contains("moved aside"));
    }

    [Fact]
    public void Every_field_of_the_record_survives_the_file_including_fields_the_api_adds_to_config_and_hostconfig()
    {
        // Every settable property, nested ones too, gets a value that is not its default: a field added to the engine's
        // state without its line in ContainerRecordCodec, or lost in the documents, shows up here by name.
        var record = (ContainerRecord)Fill(typeof(ContainerRecord), depth: 0)!;
        record.Id = new string('e', 64);
        Open().Save(record);
        var reloaded = Open().Get(record.Id)!;
        var expected = Flatten(JsonSerializer.SerializeToNode(record, EngineJson.Options), "");
        var actual = Flatten(JsonSerializer.SerializeToNode(reloaded, EngineJson.Options), "");
        var lost = expected.Where(e => !actual.TryGetValue(e.Key, out var value) || value != e.Value)
            .Select(e => $"{e.Key}: {e.Value} -> {actual.GetValueOrDefault(e.Key, "(missing)")}").ToList();
        Assert.Empty(lost);
        Assert.True(expected.Count > 150, $"only {expected.Count} values were filled");
    }

    [Fact]
    public void The_file_keeps_the_engines_state_in_its_own_shape_and_the_api_documents_whole()
    {
        var record = new ContainerRecord { Id = new string('d', 64), Name = "x" };
        record.HostConfig.Memory = 1 << 20;
        record.State.ProcessBootId = "boot";
        Open().Save(record);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, record.Id, "state.json")))!.AsObject();
        Assert.Equal(1 << 20, (long)file["HostConfig"]!["Memory"]!);
        Assert.Equal("boot", (string)file["State"]!["ProcessBootId"]!);
        Assert.False(file.ContainsKey("ShortId"));
    }

    private static string Plain(ContainerRecord record) => JsonSerializer.Serialize(record, EngineJson.Options);

    private static Dictionary<string, string> Flatten(JsonNode? node, string path)
    {
        var values = new Dictionary<string, string>();
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o) foreach (var kv in Flatten(value, $"{path}.{key}")) values[kv.Key] = kv.Value;
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) foreach (var kv in Flatten(a[i], $"{path}[{i}]")) values[kv.Key] = kv.Value;
                break;
            default:
                values[path] = node?.ToJsonString() ?? "null";
                break;
        }
        return values;
    }

    private static int _counter;

    /// <summary>A value of <paramref name="type"/> unlike its default: strings, numbers, flags, times, lists,
    /// dictionaries, JSON nodes, and objects whose settable properties are filled the same way.</summary>
    private static object? Fill(Type type, int depth)
    {
        int n = Interlocked.Increment(ref _counter) % 100 + 2;
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string)) return $"v{n}";
        if (type == typeof(bool)) return true;
        if (type == typeof(int)) return n;
        if (type == typeof(long)) return (long)n << 20;
        if (type == typeof(ulong)) return (ulong)n << 40;
        if (type == typeof(uint)) return (uint)n;
        if (type == typeof(short)) return (short)n;
        if (type == typeof(double)) return n + 0.5;
        if (type == typeof(DateTimeOffset)) return new DateTimeOffset(2026, 11, 30, 1, 2, n % 60, TimeSpan.Zero);
        if (type.IsEnum) return Enum.GetValues(type).Cast<object>().Last();
        if (type == typeof(JsonObject)) return new JsonObject { [$"k{n}"] = n };
        if (type == typeof(JsonNode)) return JsonValue.Create(n);
        if (type == typeof(JsonElement)) return JsonSerializer.SerializeToElement(new { k = n });
        if (depth > 4) return null;
        if (type.IsArray)
        {
            var array = Array.CreateInstance(type.GetElementType()!, 2);
            for (int i = 0; i < 2; i++) array.SetValue(Fill(type.GetElementType()!, depth + 1), i);
            return array;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var list = (IList)Activator.CreateInstance(type)!;
            list.Add(Fill(type.GetGenericArguments()[0], depth + 1));
            return list;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            var dictionary = (IDictionary)Activator.CreateInstance(type)!;
            dictionary.Add(Fill(type.GetGenericArguments()[0], depth + 1)!, Fill(type.GetGenericArguments()[1], depth + 1));
            return dictionary;
        }
        if (type == typeof(PublishedPortRecord)) return new PublishedPortRecord($"{n}/tcp", "127.0.0.1", 1000 + n);
        if (type.GetConstructor(Type.EmptyTypes) is null) return null;
        object value = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0) continue;
            if (Fill(property.PropertyType, depth + 1) is { } filled) property.SetValue(value, filled);
        }
        return value;
    }
}
