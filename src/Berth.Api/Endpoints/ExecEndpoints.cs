using Berth.Api.Streams;
using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Runtime.Containers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

public static class ExecEndpoints
{
    private sealed class ExecStartRequest
    {
        public bool Detach { get; set; }
        public bool Tty { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var execs = engine.Execs;

        app.MapPost("/containers/{id}/exec", async (HttpContext ctx, string id) =>
        {
            var request = await DockerResults.ReadBody<ExecCreateRequest>(ctx);
            var exec = execs.Create(id, request);
            await DockerResults.Json(ctx, new { Id = exec.Id }, 201);
        });

        app.MapPost("/exec/{id}/start", async (HttpContext ctx, string id) =>
        {
            var exec = execs.Get(id);
            var request = HijackTransport.ReadMovedBody<ExecStartRequest>(ctx) ?? await DockerResults.ReadBody<ExecStartRequest>(ctx);
            bool tty = request.Tty || exec.Request.Tty;
            if (request.Detach)
            {
                var detached = await execs.StartAsync(id, CancellationToken.None);
                _ = DrainAsync(detached);
                ctx.Response.StatusCode = 200;
                return;
            }
            var session = await execs.StartAsync(id, CancellationToken.None);
            var connection = await Hijack.AcceptAsync(ctx, tty ? StdStreamWriter.RawType : StdStreamWriter.MultiplexedType);
            var writer = new StdStreamWriter(connection.Output, !tty);
            using var leave = CancellationTokenSource.CreateLinkedTokenSource(
                connection.Upgraded ? CancellationToken.None : ctx.RequestAborted);
            var ct = leave.Token;
            try
            {
                if (exec.Request.AttachStdin && session.Stdin is { } stdin && connection.Upgraded)
                    _ = TerminalInput.CancelOnDetach(ContainerEndpoints.PumpStdinAsync(connection.Input!, stdin,
                        closeWhenDone: !session.HasTerminal,
                        TerminalInput.DetachScanner(session.HasTerminal, exec.Request.DetachKeys, "escape")), leave);
                await foreach (var (stream, data) in session.ReadOutputAsync(ct))
                    if (stream == StdStream.Stdout ? exec.Request.AttachStdout : exec.Request.AttachStderr)
                        await writer.WriteAsync(stream, data, ct);
                await exec.Finished;
            }
            catch (OperationCanceledException) when (leave.IsCancellationRequested && !ctx.RequestAborted.IsCancellationRequested)
            {
                execs.Detached(id);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException) { }
            finally
            {
                await session.DisposeAsync();
                if (connection.Upgraded) await connection.Output.DisposeAsync();
            }
        });

        app.MapPost("/exec/{id}/resize", (HttpContext ctx, string id) =>
        {
            // A terminal's size is two 16-bit numbers (struct winsize); dockerd takes a missing one as 0.
            int height = DockerResults.Int(ctx, "h", 0, ushort.MaxValue) ?? 0;
            int width = DockerResults.Int(ctx, "w", 0, ushort.MaxValue) ?? 0;
            execs.Resize(id, height, width);
            ctx.Response.StatusCode = 200;
        });

        app.MapGet("/exec/{id}/json", async (HttpContext ctx, string id) =>
        {
            var exec = execs.Inspect(id);
            await DockerResults.Json(ctx, new
            {
                ID = exec.Id,
                Running = exec.Running,
                ExitCode = exec.ExitCode,
                ProcessConfig = new
                {
                    tty = exec.Request.Tty,
                    entrypoint = exec.Request.Cmd![0],
                    arguments = exec.Request.Cmd.Skip(1).ToList(),
                    privileged = exec.Request.Privileged,
                    user = exec.Request.User,
                },
                OpenStdin = exec.Request.AttachStdin,
                OpenStderr = exec.Request.AttachStderr,
                OpenStdout = exec.Request.AttachStdout,
                CanRemove = false,
                ContainerID = exec.ContainerId,
                DetachKeys = exec.Request.DetachKeys ?? "",
                Pid = exec.Pid,
            });
        });
    }

    private static async Task DrainAsync(ExecSession session)
    {
        await using (session)
        {
            await foreach (var _ in session.ReadOutputAsync(CancellationToken.None)) { }
            await session.Exited;
        }
    }
}
