using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

public class RealTraceConeTests
{
    /// <summary>
    /// A real-trace window's cone is its actors and the tasks of its mm; a task of no mm that frees, inside the window,
    /// a page a cone task then allocates again must join it, or that allocation is refused in every schedule (ds1 of the
    /// raceactors recordings: windows 78–83 under v5.13 ran no schedule to the end and were reported refuted).
    /// </summary>
    [Fact]
    public void NeededTasks_FreerOfAPageTheConeAllocatesAgain_JoinsTheCone()
    {
        var text = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => text.Op(task, cpu, evt, args);
        Op("cache-300", 2, "page_alloc", "pfn=0x9000");
        Op("app-101", 1, "mm_create", "mm=1 table=1");
        Op("cache-300", 2, "page_free", "pfn=0x9000");
        Op("idle-400", 3, "page_alloc", "pfn=0x9100");
        Op("app-101", 1, "page_alloc", "pfn=0x9000");
        var trace = text.Load();
        var profile = KernelProfile.Latest;
        var ops = trace.Ops.ToArray();
        var start = new ReplayEngine(profile, Arch.X86);
        start.Execute(ops[0]);
        var comms = trace.Tasks.ToDictionary(t => t.Tid, t => t.Comm);

        var added = RealTraceExplore.NeededTasks(ops[1..], new HashSet<int> { 101 }, start, comms, profile, Arch.X86);

        // The freer joins; a task the cone does not need (its own page) stays out.
        Assert.Equal([300], added.Order());
    }
}
