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
    private sealed class Names : IDnsNames
    {
        public IReadOnlyList<IPAddress>? Lookup(string clientId, string name) =>
            name == "web" ? [IPAddress.Parse("10.1.2.3")] : null;
        public string? ReverseLookup(string clientId, IPAddress address) => null;
        // An address with no route in the fresh namespace: forwarding fails at once.
        public IReadOnlyList<IPAddress> DnsServers(string clientId) => [IPAddress.Parse("10.254.254.254")];
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
                    var query = DnsMessageTests.Query(q == 1 ? "web" : "nothere", DnsQuery.TypeA, id: q);
                    var framed = new byte[query.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
                    query.CopyTo(framed, 2);
                    stream.Write(framed);
                    var prefix = new byte[2];
                    stream.ReadExactly(prefix);
                    var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                    stream.ReadExactly(answer);
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
}
