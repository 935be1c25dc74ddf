using System.CommandLine;

namespace Pipeline.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("mmtrace: find memory-management races in Linux traces.");
        return root.Parse(args).Invoke();
    }
}
