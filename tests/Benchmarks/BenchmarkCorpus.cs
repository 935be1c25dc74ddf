namespace Pipeline.Benchmarks;

/// <summary>Files of <c>shared/corpus</c>, found by walking up from the benchmark's output directory.</summary>
internal static class BenchmarkCorpus
{
    public static string File(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine([dir.FullName, "shared", "corpus", .. parts]);
            if (System.IO.File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"No shared/corpus/{string.Join('/', parts)} above {AppContext.BaseDirectory}.");
    }
}
