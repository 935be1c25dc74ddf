namespace Pipeline.Replay.Lowering;

/// <summary>Receives the ops of a lowering as they are made, in schedule order.</summary>
public interface IOpSink
{
    /// <summary>Task <paramref name="tid"/> is (now) called <paramref name="comm"/>; comes before its first op.</summary>
    void Task(int tid, string comm);

    /// <summary>The next op.</summary>
    void Write(in Op op);
}

/// <summary>Feeds ops straight into a <see cref="ReplayEngine"/> (and on to another sink).</summary>
internal sealed class EngineSink(ReplayEngine engine, IOpSink? next) : IOpSink
{
    public void Task(int tid, string comm)
    {
        engine.NameTask(tid, comm);
        next?.Task(tid, comm);
    }

    public void Write(in Op op)
    {
        engine.Execute(op);
        next?.Write(op);
    }
}
