using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Engine.Store;

/// <summary>Times as Docker writes them: RFC 3339 in UTC with nanosecond digits, and Go's zero time.</summary>
public sealed class DockerTimeConverter : JsonConverter<DateTimeOffset>
{
    public const string ZeroTime = "0001-01-01T00:00:00Z";

    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Format(value));

    public static string Format(DateTimeOffset value) => value == DateTimeOffset.MinValue || value.Year <= 1
        ? ZeroTime
        : value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", CultureInfo.InvariantCulture);
}
