using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Pipeline.Storage;

/// <summary>
/// Decodes events on a thread of its own, in batches of <see cref="BatchSize"/> rows, a bounded number of batches
/// ahead of the consumer. Replay spends about as much time reading events.parquet as lowering and replaying them
/// (docs/benchmarks.md), so on two cores the two halves overlap. Rows keep their order; memory is the batches in
/// flight (<see cref="Batches"/> × <see cref="BatchSize"/> rows), whatever the trace's length. An error on the
/// reading thread is rethrown to the consumer, with its own type and stack, at the point the rows ran out.
/// </summary>
internal sealed class EventReadAhead : IDisposable
{
    /// <summary>Rows per batch (one DuckDB vector).</summary>
    public const int BatchSize = 2048;

    /// <summary>Batches in flight: being filled, queued, being consumed.</summary>
    public const int Batches = 4;

    private readonly EventChunkCursor _cursor;
    private readonly Action<EventRow>? _visit;
    private readonly BlockingCollection<Batch> _full = new(new ConcurrentQueue<Batch>(), Batches);
    private readonly BlockingCollection<Batch> _free = new(new ConcurrentQueue<Batch>(), Batches);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private ExceptionDispatchInfo? _error;
    private bool _disposed;

    /// <summary>Starts reading <paramref name="cursor"/> (owned: disposed with this).</summary>
    /// <param name="cursor">The rows.</param>
    /// <param name="visit">Called with each row, in order, on the reading thread before the row is queued.</param>
    public EventReadAhead(EventChunkCursor cursor, Action<EventRow>? visit = null)
    {
        _cursor = cursor;
        _visit = visit;
        for (int i = 0; i < Batches; i++)
        {
            _free.Add(new Batch());
        }
        _thread = new Thread(Produce) { IsBackground = true, Name = "mmtrace events.parquet reader" };
        _thread.Start();
    }

    /// <summary>The next batch in order, or null after the last; rethrows the reading thread's error.</summary>
    public Batch? Next()
    {
        if (_full.TryTake(out Batch? batch, Timeout.Infinite))
        {
            return batch;
        }
        _error?.Throw();
        return null;
    }

    /// <summary>Hands a consumed batch back to be refilled.</summary>
    public void Recycle(Batch batch) => _free.Add(batch);

    private void Produce()
    {
        try
        {
            while (true)
            {
                Batch batch = _free.Take(_stop.Token);
                int count = 0;
                while (count < BatchSize && _cursor.MoveNext(batch.Rows[count]))
                {
                    _visit?.Invoke(batch.Rows[count]);
                    count++;
                }
                batch.Count = count;
                if (count > 0)
                {
                    _full.Add(batch, _stop.Token);
                }
                if (count < BatchSize)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The consumer stopped early (Dispose).
        }
        catch (Exception e)
        {
            _error = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            _full.CompleteAdding();
        }
    }

    /// <summary>Stops the reading thread (the consumer may stop early) and releases the query.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stop.Cancel();
        _thread.Join();
        _cursor.Dispose();
        _stop.Dispose();
        _full.Dispose();
        _free.Dispose();
    }

    /// <summary>Rows decoded together; <see cref="Count"/> of <see cref="Rows"/> are filled.</summary>
    internal sealed class Batch
    {
        public EventRow[] Rows { get; } = [.. Enumerable.Range(0, BatchSize).Select(_ => new EventRow())];

        public int Count { get; set; }
    }
}
