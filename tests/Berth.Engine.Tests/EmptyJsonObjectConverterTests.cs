using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class EmptyJsonObjectConverterTests
{
    [Fact]
    public void Empty_objects_read_without_a_document_and_others_keep_their_members_and_case_insensitive_lookup()
    {
        const string json = """{"ExposedPorts":{"80/tcp":{},"53/udp":{ }},"Healthcheck":{"test":["CMD","true"],"Interval":5}}""";
        foreach (var options in new[] { EngineJson.Options, StoreJson.Options })
        {
            var config = JsonSerializer.Deserialize<ContainerConfig>(json, options)!;
            Assert.Equal(["80/tcp", "53/udp"], config.ExposedPorts!.Keys);
            Assert.All(config.ExposedPorts.Values, o => Assert.Empty(o));
            // An empty object read is an ordinary one: it takes members like any other.
            config.ExposedPorts["80/tcp"]["x"] = 1;
            Assert.Equal(1, (int)config.ExposedPorts["80/tcp"]["X"]!);
            Assert.Equal("CMD", (string)config.Healthcheck!["Test"]![0]!);
            Assert.Equal(5, (int)config.Healthcheck["interval"]!);

            string written = JsonSerializer.Serialize(JsonSerializer.Deserialize<ContainerConfig>(json, options), options);
            Assert.Contains("\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}", written);
            Assert.Contains("\"Healthcheck\":{\"test\":[\"CMD\",\"true\"],\"Interval\":5}", written);
        }
    }

    [Fact]
    public void Ten_thousand_exposed_ports_read_in_a_few_hundred_bytes_each()
    {
        byte[] json = System.Text.Encoding.UTF8.GetBytes(
            "{" + string.Join(",", Enumerable.Range(1, 10_000).Select(p => $"\"{p}/tcp\":{{}}")) + "}");
        JsonSerializer.Deserialize<Dictionary<string, JsonObject>>(json, StoreJson.Options); // warm: metadata, JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ports = JsonSerializer.Deserialize<Dictionary<string, JsonObject>>(json, StoreJson.Options)!;
        long perPort = (GC.GetAllocatedBytesForCurrentThread() - before) / ports.Count;
        // The default converter gave each `{}` a JsonDocument of its own: 350 bytes each with the dictionary, 200 without.
        Assert.True(perPort < 275, $"{perPort} bytes allocated per exposed port");
    }

    [Fact]
    public void Null_stays_null_and_a_value_that_is_not_an_object_is_refused()
    {
        Assert.Null(JsonSerializer.Deserialize<ContainerConfig>("""{"Healthcheck":null}""", EngineJson.Options)!.Healthcheck);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ContainerConfig>("""{"Healthcheck":[1]}""", EngineJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Dictionary<string, JsonObject>>("""{"80/tcp":"x"}""", EngineJson.Options));
    }
}
