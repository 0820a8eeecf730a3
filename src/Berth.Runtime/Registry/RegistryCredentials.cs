using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Runtime.Registry;

/// <summary>What a client sends for one registry: the docker CLI's AuthConfig, carried base64url-encoded in the
/// X-Registry-Auth header of pull and push, and as the body of POST /auth.</summary>
public sealed record RegistryCredentials
{
    [JsonPropertyName("username")] public string? Username { get; init; }
    [JsonPropertyName("password")] public string? Password { get; init; }
    /// <summary>"user:password" in base64, as config.json keeps it; used when username and password are absent.</summary>
    [JsonPropertyName("auth")] public string? Auth { get; init; }
    [JsonPropertyName("serveraddress")] public string? ServerAddress { get; init; }
    /// <summary>A refresh token a token server handed out at login (OAuth2); sent instead of the password.</summary>
    [JsonPropertyName("identitytoken")] public string? IdentityToken { get; init; }
    /// <summary>A bearer token to send as it is.</summary>
    [JsonPropertyName("registrytoken")] public string? RegistryToken { get; init; }

    private static readonly JsonSerializerOptions Options = new() { PropertyNameCaseInsensitive = true };

    public bool IsEmpty => string.IsNullOrEmpty(User) && string.IsNullOrEmpty(RegistryToken) && string.IsNullOrEmpty(IdentityToken);

    public string? User => !string.IsNullOrEmpty(Username) ? Username : Decoded()?.User;
    public string? Secret => !string.IsNullOrEmpty(Username) ? Password : Decoded()?.Password;

    private (string User, string Password)? Decoded()
    {
        if (string.IsNullOrEmpty(Auth)) return null;
        try
        {
            string text = Encoding.UTF8.GetString(Convert.FromBase64String(Auth));
            int colon = text.IndexOf(':');
            return colon < 0 ? null : (text[..colon], text[(colon + 1)..]);
        }
        catch (FormatException) { return null; }
    }

    /// <summary>The X-Registry-Auth header: base64url (padding optional) JSON; "" or "e30=" ({}) mean anonymous.
    /// An undecodable header is anonymous too, as dockerd treats it.</summary>
    public static RegistryCredentials? FromHeader(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        try
        {
            string b64 = header.Trim().Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var credentials = JsonSerializer.Deserialize<RegistryCredentials>(Convert.FromBase64String(b64), Options);
            return credentials is null || credentials.IsEmpty ? null : credentials;
        }
        catch (Exception e) when (e is FormatException or JsonException) { return null; }
    }

    public static RegistryCredentials? FromJson(ReadOnlySpan<byte> json)
    {
        try { return JsonSerializer.Deserialize<RegistryCredentials>(json, Options); }
        catch (JsonException) { return null; }
    }

    /// <summary>The header value clients send: base64url of the JSON.</summary>
    public string ToHeader() =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(this, new JsonSerializerOptions { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull }))
            .Replace('+', '-').Replace('/', '_');

    public override string ToString() => $"credentials of {User ?? "(token)"}"; // never the secret
}

/// <summary>One WWW-Authenticate challenge: scheme and parameters (realm, service, scope).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string key] => Parameters.TryGetValue(key, out var v) ? v : null;

    /// <summary>Parses `Bearer realm="https://auth",service="registry",scope="repository:x:pull"` (RFC 7235
    /// auth-params, quoted or bare values, backslash escapes).</summary>
    public static AuthChallenge? Parse(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        string text = header.Trim();
        int space = text.IndexOf(' ');
        string scheme = space < 0 ? text : text[..space];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = space < 0 ? text.Length : space + 1;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ' ' || text[i] == ',')) i++;
            int eq = text.IndexOf('=', i);
            if (eq < 0) break;
            string key = text[i..eq].Trim();
            i = eq + 1;
            var value = new StringBuilder();
            if (i < text.Length && text[i] == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length) i++;
                    value.Append(text[i++]);
                }
                i++;
            }
            else
                while (i < text.Length && text[i] != ',') value.Append(text[i++]);
            parameters[key] = value.ToString().Trim();
        }
        return new AuthChallenge(scheme, parameters);
    }
}
