using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace Berth.Networking.Dns;

/// <summary>Forwarded answers kept for their records' smallest TTL (capped), served with the TTLs counted down.
/// Only complete NOERROR/NXDOMAIN answers with at least one answer or authority record are kept.</summary>
public sealed class DnsAnswerCache(int capacity = 10000, TimeSpan? maxTtl = null, Func<DateTime>? clock = null)
{
    private sealed record Entry(byte[] Answer, int[] TtlOffsets, uint[] Ttls, DateTime Stored, DateTime Expires);

    private readonly ConcurrentDictionary<string, Entry> _entries = new();
    private readonly TimeSpan _maxTtl = maxTtl ?? TimeSpan.FromMinutes(5);
    private readonly Func<DateTime> _clock = clock ?? (() => DateTime.UtcNow);

    public static string Key(DnsQuery query, IReadOnlyList<System.Net.IPAddress> servers) =>
        $"{query.Name}|{query.Type}|{query.Class}|{query.EdnsUdpSize is not null}|{string.Join(',', servers)}";

    public byte[]? Get(string key, ushort id)
    {
        if (!_entries.TryGetValue(key, out var entry)) return null;
        var now = _clock();
        if (now >= entry.Expires)
        {
            _entries.TryRemove(key, out _);
            return null;
        }
        var answer = (byte[])entry.Answer.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(answer, id);
        uint elapsed = (uint)(now - entry.Stored).TotalSeconds;
        for (int i = 0; i < entry.TtlOffsets.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(entry.TtlOffsets[i]), entry.Ttls[i] - Math.Min(elapsed, entry.Ttls[i]));
        return answer;
    }

    public void Put(string key, byte[] answer)
    {
        if (answer.Length < 12 || (answer[2] & 0x02) != 0) return; // truncated: the client will ask over TCP
        int rcode = answer[3] & 0xf;
        if (rcode is not (DnsResponse.NoError or DnsResponse.NxDomain)) return;
        var offsets = TtlOffsets(answer);
        if (offsets is not { Count: > 0 }) return;
        var ttls = offsets.Select(o => BinaryPrimitives.ReadUInt32BigEndian(answer.AsSpan(o))).ToArray();
        var ttl = TimeSpan.FromSeconds(Math.Min(ttls.Min(), _maxTtl.TotalSeconds));
        if (ttl <= TimeSpan.Zero) return;
        if (_entries.Count >= capacity) _entries.Clear(); // crude, bounded: a full cache starts over
        var now = _clock();
        _entries[key] = new Entry(answer, offsets.ToArray(), ttls, now, now + ttl);
    }

    /// <summary>Where the TTLs of the answer and authority records are, or null when the message does not parse.</summary>
    public static List<int>? TtlOffsets(ReadOnlySpan<byte> message)
    {
        int questions = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int records = BinaryPrimitives.ReadUInt16BigEndian(message[6..]) + BinaryPrimitives.ReadUInt16BigEndian(message[8..]);
        int offset = 12;
        for (int i = 0; i < questions; i++)
        {
            if (!SkipName(message, ref offset) || offset + 4 > message.Length) return null;
            offset += 4;
        }
        var result = new List<int>();
        for (int i = 0; i < records; i++)
        {
            if (!SkipName(message, ref offset) || offset + 10 > message.Length) return null;
            result.Add(offset + 4);
            int length = BinaryPrimitives.ReadUInt16BigEndian(message[(offset + 8)..]);
            offset += 10 + length;
            if (offset > message.Length) return null;
        }
        return result;
    }

    private static bool SkipName(ReadOnlySpan<byte> message, ref int offset)
    {
        for (int labels = 0; labels < 128; labels++)
        {
            if (offset >= message.Length) return false;
            int length = message[offset];
            if (length == 0) { offset++; return true; }
            if ((length & 0xc0) == 0xc0) { offset += 2; return offset <= message.Length; }
            if ((length & 0xc0) != 0) return false;
            offset += 1 + length;
        }
        return false;
    }
}
