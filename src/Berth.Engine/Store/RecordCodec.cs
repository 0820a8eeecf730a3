using System.Text.Json;

namespace Berth.Engine.Store;

/// <summary>How a <see cref="RecordStore{T}"/> turns a record into the bytes of its file and back.</summary>
public interface IRecordCodec<T> where T : class
{
    byte[] Encode(T record);

    /// <summary>The record in <paramref name="file"/>; a JsonException (or <see cref="NewerRecordSchemaException"/>)
    /// when it cannot be read.</summary>
    T Decode(byte[] file);
}

/// <summary>Records whose file is their own JSON (networks, volumes: engine-owned types with no wire shape).</summary>
public sealed class PlainJsonCodec<T> : IRecordCodec<T> where T : class
{
    public static readonly PlainJsonCodec<T> Instance = new();

    public byte[] Encode(T record) => JsonSerializer.SerializeToUtf8Bytes(record, EngineJson.Options);

    public T Decode(byte[] file) =>
        JsonSerializer.Deserialize<T>(file, EngineJson.Options) ?? throw new JsonException("a record is null");
}

/// <summary>A record written by a newer Berth, in a schema this one does not know: it is set aside, never guessed at
/// (reading it with today's types could drop what the newer engine kept, and the next save would lose it).</summary>
public sealed class NewerRecordSchemaException(int found, int known)
    : Exception($"schema version {found} is newer than this engine's {known}")
{
    public int Found { get; } = found;
}
