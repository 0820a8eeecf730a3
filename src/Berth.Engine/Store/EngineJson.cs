using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Engine.Store;

/// <summary>The one set of JSON options for state files and API bodies: Docker's PascalCase names as declared.</summary>
public static class EngineJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = null,
            PropertyNameCaseInsensitive = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            NumberHandling = JsonNumberHandling.AllowReadingFromString,
        };
        options.Converters.Add(new DockerTimeConverter());
        options.Converters.Add(new EmptyJsonObjectConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
