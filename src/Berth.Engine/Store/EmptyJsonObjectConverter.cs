using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Berth.Engine.Store;

/// <summary>Reads `{}` as a plain empty <see cref="JsonObject"/>. The default converter backs every JsonObject it reads
/// with a JsonDocument of its own (a copy of its bytes and a metadata buffer): ExposedPorts' 10,000 `{}` of one
/// container publishing 10,000 ports were 20,000 documents, made again on every read of the record.</summary>
public sealed class EmptyJsonObjectConverter : JsonConverter<JsonObject>
{
    public override JsonObject? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var nodeOptions = new JsonNodeOptions { PropertyNameCaseInsensitive = options.PropertyNameCaseInsensitive };
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            var next = reader;
            if (next.Read() && next.TokenType == JsonTokenType.EndObject)
            {
                reader = next;
                return new JsonObject(nodeOptions);
            }
        }
        return JsonNode.Parse(ref reader, nodeOptions) switch
        {
            JsonObject o => o,
            null => null,
            var other => throw new JsonException($"expected an object, not {other.GetValueKind()}"),
        };
    }

    public override void Write(Utf8JsonWriter writer, JsonObject value, JsonSerializerOptions options) => value.WriteTo(writer, options);
}
