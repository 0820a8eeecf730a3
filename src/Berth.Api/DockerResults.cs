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

    /// <summary>Reads a JSON body; a malformed one is the client's mistake (400), an empty one yields a default.</summary>
    public static async Task<T> ReadBody<T>(HttpContext context) where T : new()
    {
        try
        {
            if (context.Request.ContentLength == 0) return new T();
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            if (buffer.Length == 0) return new T();
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), EngineJson.Options) ?? new T();
        }
        catch (JsonException e)
        {
            throw new Engine.BadRequestException($"invalid JSON in the request body: {e.Message}", e);
        }
    }

    public static bool Flag(HttpContext context, string name)
    {
        string? value = context.Request.Query[name];
        return value is not null && value is not ("" or "0" or "false" or "False");
    }

    public static int? Int(HttpContext context, string name)
    {
        string? value = context.Request.Query[name];
        if (string.IsNullOrEmpty(value)) return null;
        return int.TryParse(value, out int n) ? n : throw new Engine.BadRequestException($"invalid value for {name}: {value}");
    }
}
