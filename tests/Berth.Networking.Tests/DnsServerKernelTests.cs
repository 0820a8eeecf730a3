using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Berth.Networking.Dns;
using Berth.Networking.Namespaces;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The resolver's sockets in a real namespace the test made: 127.0.0.11:53 over UDP and TCP (several
/// queries on one connection), garbage dropped without harm, and an unreachable upstream answered SERVFAIL.</summary>
public sealed class DnsServerKernelTests
{
    private sealed class Names(string upstream = "10.254.254.254") : IDnsNames
    {
        public IReadOnlyList<IPAddress>? Lookup(string clientId, string name) =>
            name == "web" ? [IPAddress.Parse("10.1.2.3")] : null;
        public string? ReverseLookup(string clientId, IPAddress address) => null;
        // An address with no route in the fresh namespace: forwarding fails at once.
        public IReadOnlyList<IPAddress> DnsServers(string clientId) => [IPAddress.Parse(upstream)];
    }

    [Fact]
    public async Task Answers_over_udp_and_tcp_inside_the_namespace_and_survives_garbage()
    {
        string name = TestNames.Unique("bnd"), path = $"/run/netns/{name}";
        var server = new DnsServer(new Names());
        try
        {
            NetworkNamespace.Create(path);
            string id = new string('a', 64);
            server.Open(id, path);
            server.Open(id, path); // idempotent
            var (udp, tcp) = NetworkNamespace.Run(path, () =>
            {
                var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                u.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                return (u, t);
            });
            using (udp)
            using (tcp)
            {
                udp.ReceiveTimeout = 5000;
                var buffer = new byte[4096];
                udp.Send([0xff, 0xff, 0, 0, 0, 9]);                       // garbage: dropped
                udp.Send(new byte[5000]);                                    // oversized zeros: dropped
                udp.Send(DnsMessageTests.Query("web", DnsQuery.TypeA, id: 7));
                int n = udp.Receive(buffer);
                Assert.Equal(7, BinaryPrimitives.ReadUInt16BigEndian(buffer));
                Assert.Equal(new byte[] { 10, 1, 2, 3 }, buffer[(n - 4)..n]);

                udp.Send(DnsMessageTests.Query("elsewhere.example", DnsQuery.TypeA, id: 8));
                n = udp.Receive(buffer);
                Assert.Equal(8, BinaryPrimitives.ReadUInt16BigEndian(buffer));
                Assert.Equal(DnsResponse.ServFail, buffer[3] & 0xf);

                // RFC 7766: two queries on one connection, each framed by a two-byte length.
                using var stream = new NetworkStream(tcp);
                stream.ReadTimeout = 5000;
                for (ushort q = 1; q <= 2; q++)
                {
                    var answer = AskOverTcp(stream, DnsMessageTests.Query(q == 1 ? "web" : "nothere", DnsQuery.TypeA, id: q));
                    Assert.Equal(q, BinaryPrimitives.ReadUInt16BigEndian(answer));
                    Assert.Equal(q == 1 ? DnsResponse.NoError : DnsResponse.NxDomain, answer[3] & 0xf);
                }
            }
            server.Close(id);
            var refused = NetworkNamespace.Run(path, () =>
            {
                using var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try { t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53)); return false; }
                catch (SocketException) { return true; }
            });
            Assert.True(refused, "the listener stays open after Close");
        }
        finally
        {
            server.Dispose();
            NetworkNamespace.Remove(path);
        }
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_truncated_upstream_answer_is_fetched_again_over_tcp_for_a_tcp_client()
    {
        string name = TestNames.Unique("bnd"), path = $"/run/netns/{name}";
        string upstream = $"10.253.{Random.Shared.Next(1, 250)}.1";
        var server = new DnsServer(new Names(upstream));
        Socket? fakeUdp = null, fakeTcp = null;
        try
        {
            NetworkNamespace.Create(path);
            Assert.Equal(0, Sh.Run("ip", ["-n", name, "addr", "add", upstream + "/32", "dev", "lo"]).ExitCode);
            (fakeUdp, fakeTcp) = NetworkNamespace.Run(path, () =>
            {
                var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                u.Bind(new IPEndPoint(IPAddress.Parse(upstream), 53));
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Bind(new IPEndPoint(IPAddress.Parse(upstream), 53));
                t.Listen(4);
                return (u, t);
            });
            var fakeUpstream = Task.Run(async () =>
            {
                // UDP: only the header and question with TC set; TCP: 60 A records.
                var buffer = new byte[512];
                var from = await fakeUdp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
                var query = DnsQuery.Parse(buffer.AsSpan(0, from.ReceivedBytes))!;
                var cut = buffer[..query.QuestionEnd];
                cut[2] = 0x83;
                cut[3] = 0x80;
                await fakeUdp.SendToAsync(cut, from.RemoteEndPoint);
                using var connection = await fakeTcp.AcceptAsync();
                using var stream = new NetworkStream(connection);
                var prefix = new byte[2];
                await stream.ReadExactlyAsync(prefix);
                var packet = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                await stream.ReadExactlyAsync(packet);
                var parsed = DnsQuery.Parse(packet)!;
                var whole = DnsResponse.Build(packet, parsed, DnsResponse.NoError,
                    Enumerable.Range(1, 60).Select(i => IPAddress.Parse($"192.0.2.{i}")).ToList(), null, 65535);
                var framed = new byte[whole.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)whole.Length);
                whole.CopyTo(framed, 2);
                await stream.WriteAsync(framed);
            });

            string id = new string('b', 64);
            server.Open(id, path);
            using var client = NetworkNamespace.Run(path, () =>
            {
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                return t;
            });
            using var clientStream = new NetworkStream(client);
            clientStream.ReadTimeout = 10000;
            var answer = AskOverTcp(clientStream, DnsMessageTests.Query("big.example", DnsQuery.TypeA, id: 99));
            Assert.Equal(99, BinaryPrimitives.ReadUInt16BigEndian(answer));
            Assert.Equal(0, answer[2] & 0x02);
            Assert.Equal(60, BinaryPrimitives.ReadUInt16BigEndian(answer.AsSpan(6)));
            await fakeUpstream.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            fakeUdp?.Dispose();
            fakeTcp?.Dispose();
            server.Dispose();
            NetworkNamespace.Remove(path);
        }
    }

    /// <summary>One query over a DNS TCP connection (RFC 1035 4.2.2: each message behind a two-byte length).</summary>
    private static byte[] AskOverTcp(NetworkStream stream, byte[] query)
    {
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        stream.Write(framed);
        var prefix = new byte[2];
        stream.ReadExactly(prefix);
        var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        stream.ReadExactly(answer);
        return answer;
    }
}
