using System.Globalization;
using System.Text.Json;
using Berth.Engine.Store;
using Microsoft.AspNetCore.Http;

namespace Berth.Api;

/// <summary>JSON answers as the docker CLI expects them: Content-Type exactly application/json
/// (with "; charset=utf-8" the CLI prints error bodies raw), errors as {"message": "..."}.</summary>
public static class DockerResults
{
    public const string JsonType = "application/json";

    public static async Task Json<T>(HttpContext context, T value, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = JsonType;
        await JsonSerializer.SerializeAsync(context.Response.Body, value, EngineJson.Options, context.RequestAborted);
    }

    public static Task Error(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = JsonType;
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { message }, EngineJson.Options) + "\n");
    }

    public static void NoContent(HttpContext context) => context.Response.StatusCode = 204;

    /// <summary>Reads a JSON body; a malformed one is the client's mistake (400), an empty one yields a default.
    /// Bodies above <see cref="RequestGuards.JsonBodyLimit"/> are refused (413) before or while they are read.</summary>
    public static async Task<T> ReadBody<T>(HttpContext context) where T : new()
    {
        if (context.Request.ContentLength == 0) return new T();
        if (context.Request.ContentLength > RequestGuards.JsonBodyLimit) throw BodyTooLarge();
        using var buffer = new MemoryStream();
        try
        {
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == 413)
        {
            throw BodyTooLarge();
        }
        if (buffer.Length > RequestGuards.JsonBodyLimit) throw BodyTooLarge();
        return buffer.Length == 0 ? new T() : ParseJson<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    /// <summary>Parses a JSON document; anything the serializer refuses is a 400 that says why.</summary>
    public static T ParseJson<T>(ReadOnlySpan<byte> json) where T : new()
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, EngineJson.Options) ?? new T();
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException
                                      or NotSupportedException or ArgumentException or OverflowException)
        {
            throw new Engine.BadRequestException($"invalid JSON in the request body: {e.Message}", e);
        }
    }

    private static Engine.EngineException BodyTooLarge() =>
        new(413, $"request body too large: JSON bodies are limited to {RequestGuards.JsonBodyLimit / (1024 * 1024)} MiB");

    public static bool Flag(HttpContext context, string name)
    {
        string? value = context.Request.Query[name];
        return value is not null && value is not ("" or "0" or "false" or "False");
    }

    public static int? Int(HttpContext context, string name)
    {
        string? value = context.Request.Query[name];
        if (string.IsNullOrEmpty(value)) return null;
        return int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new Engine.BadRequestException($"invalid value for {name}: {Shorten(value)}");
    }

    /// <summary>An integer query value that must lie in [min, max]; absent is null.</summary>
    public static int? Int(HttpContext context, string name, int min, int max)
    {
        int? value = Int(context, name);
        if (value is { } n && (n < min || n > max))
            throw new Engine.BadRequestException($"invalid value for {name}: {n} is out of range ({min} to {max})");
        return value;
    }

    /// <summary>Client text echoed in an error, cut so a huge value does not come back whole.</summary>
    public static string Shorten(string value, int max = 100) => value.Length <= max ? value : value[..max] + "...";
}
