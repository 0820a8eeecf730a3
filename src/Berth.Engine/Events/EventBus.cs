using System.Threading.Channels;

namespace Berth.Engine.Events;

/// <summary>The engine's one event bus: every service publishes with a single call, `GET /events` subscribes. A
/// bounded history (the last <see cref="HistorySize"/> events) answers `since`/`until` in the past; a subscriber
/// that does not keep up loses its oldest unread events rather than holding the publisher.</summary>
public sealed class EventBus(TimeProvider? clock = null)
{
    public const int HistorySize = 1000;
    private const int SubscriberBuffer = 4096;

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Queue<EngineEvent> _history = new();
    private readonly List<Channel<EngineEvent>> _subscribers = new();
    private readonly Lock _lock = new();
    private long _lastNanos;

    public int SubscriberCount
    {
        get { lock (_lock) return _subscribers.Count; }
    }

    /// <summary>Publishes one event, e.g. <c>Publish(EventTypes.Image, "pull", imageId, new() { ["name"] = ref })</c>.</summary>
    public EngineEvent Publish(string type, string action, string actorId, IReadOnlyDictionary<string, string>? attributes = null)
    {
        lock (_lock)
        {
            var ev = EngineEvent.Create(type, action, actorId, attributes, _clock.GetUtcNow());
            // Strictly increasing times keep `since`/`until` on an event's own timeNano exact.
            if (ev.TimeNano <= _lastNanos) ev = ev with { TimeNano = _lastNanos + 1, Time = (_lastNanos + 1) / 1_000_000_000 };
            _lastNanos = ev.TimeNano;
            _history.Enqueue(ev);
            while (_history.Count > HistorySize) _history.Dequeue();
            foreach (var subscriber in _subscribers) subscriber.Writer.TryWrite(ev);
            return ev;
        }
    }

    /// <summary>An image event (tag, untag, delete, import, load, pull, push): the actor is the image id (or the
    /// reference for pull/push, as dockerd), `name` the reference.</summary>
    public EngineEvent Image(string action, string imageId, string? name = null) =>
        Publish(EventTypes.Image, action, imageId, name is null ? null : new Dictionary<string, string> { ["name"] = name });

    /// <summary>The past events with <paramref name="since"/> ≤ time ≤ <paramref name="until"/> (either may be null)
    /// and, atomically with them, a reader of every later event: none is lost or seen twice between the two.</summary>
    public Subscription Subscribe(DateTimeOffset? since, DateTimeOffset? until, bool live = true)
    {
        long sinceNanos = since is { } s ? (s - DateTimeOffset.UnixEpoch).Ticks * 100 : long.MinValue;
        long untilNanos = until is { } u ? (u - DateTimeOffset.UnixEpoch).Ticks * 100 : long.MaxValue;
        lock (_lock)
        {
            var past = since is null && until is null
                ? new List<EngineEvent>()
                : _history.Where(e => e.TimeNano >= sinceNanos && e.TimeNano <= untilNanos).ToList();
            Channel<EngineEvent>? channel = null;
            if (live)
            {
                channel = Channel.CreateBounded<EngineEvent>(new BoundedChannelOptions(SubscriberBuffer)
                {
                    FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true,
                });
                _subscribers.Add(channel);
            }
            return new Subscription(this, past, channel);
        }
    }

    private void Unsubscribe(Channel<EngineEvent> channel)
    {
        lock (_lock) _subscribers.Remove(channel);
        channel.Writer.TryComplete();
    }

    public sealed class Subscription(EventBus bus, IReadOnlyList<EngineEvent> past, Channel<EngineEvent>? live) : IDisposable
    {
        public IReadOnlyList<EngineEvent> Past { get; } = past;

        /// <summary>Events published after the subscription; an empty reader for a history-only one.</summary>
        public ChannelReader<EngineEvent> Live { get; } = live?.Reader ?? Closed();

        public void Dispose()
        {
            if (live is not null) bus.Unsubscribe(live);
        }

        private static ChannelReader<EngineEvent> Closed()
        {
            var channel = Channel.CreateUnbounded<EngineEvent>();
            channel.Writer.Complete();
            return channel.Reader;
        }
    }
}
