namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    /// <summary>`commit --pause` (the default): a running container is frozen while its layer is read, so the image
    /// holds one moment of its files, and thawed after; null when there is nothing to freeze (not running, already
    /// paused, or it stopped meanwhile).</summary>
    private async Task<IAsyncDisposable?> FreezeForCommitAsync(Model.ContainerRecord record)
    {
        if (!record.State.Running || record.State.Paused) return null;
        try { await PauseAsync(record.Id); }
        catch (ConflictException) { return null; }
        return new Thaw(this, record.Id);
    }

    private sealed class Thaw(ContainerService containers, string id) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try { await containers.UnpauseAsync(id); }
            catch (Exception e) when (e is ConflictException or NotFoundException) { } // stopped or removed meanwhile
        }
    }
}
