namespace Berth.Engine.Model;

/// <summary>A bridge network as stored. The default one is named "bridge".</summary>
public sealed class NetworkRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string Driver { get; set; } = "bridge";
    public string BridgeName { get; set; } = "";
    public string Subnet { get; set; } = "";
    public string Gateway { get; set; } = "";
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool IsDefault { get; set; }
    public Dictionary<string, string> Labels { get; set; } = new();
    public Dictionary<string, string> Options { get; set; } = new();
}
