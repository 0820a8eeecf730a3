using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Engine.Store;

/// <summary>The JSON options of versioned state files, owned by the store: a change to the API's options
/// (<see cref="EngineJson"/>) does not change what is on disk.</summary>
public static class StoreJson
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
