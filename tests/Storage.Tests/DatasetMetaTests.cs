using System.Text;

namespace Pipeline.Storage.Tests;

public sealed class DatasetMetaTests
{
    private static DatasetMeta Sample() => new()
    {
        TraceId = "t1",
        Sources = [new DatasetSource("/data/trace.dat", 4096, new string('0', 64))],
        Format = "tracedat",
        KernelRelease = "6.8.0",
        CpuCount = 8,
        Clock = "local",
        PointersHashed = false,
        Events = 42,
        EventCounts = new SortedDictionary<string, long>(StringComparer.Ordinal) { ["tlb:tlb_flush"] = 40, ["exceptions:page_fault_user"] = 2 },
        LostEvents = 5,
        MalformedCount = 1,
        MalformedSamples = [new MalformedSample("trace.dat", 8192, "byte", "expected record length <= 4080, found 65535")],
        Truncated = "cpu 3: last page cut at byte 12288",
    };

    [SkippableFact]
    public void Write_ThenRead_RoundTripsEveryField()
    {
        using var dir = new TempDirectory();
        DatasetMeta meta = Sample();

        meta.Write(dir.Path);
        DatasetMeta back = DatasetMeta.Read(dir.Path);

        Assert.Equal(meta.ToJsonBytes(), back.ToJsonBytes());
        Assert.Equal(meta.Sources, back.Sources);
        Assert.Equal(meta.MalformedSamples, back.MalformedSamples);
        Assert.Equal(meta.EventCounts, back.EventCounts);
        Assert.Equal(["meta.json"], dir.Entries());
    }

    [SkippableFact]
    public void ToJsonBytes_SnakeCaseKeysInDeclarationOrderCountsSorted()
    {
        string json = Encoding.UTF8.GetString(Sample().ToJsonBytes());

        string[] keys = ["\"schema_version\": 1", "\"trace_id\"", "\"sources\"", "\"sha256\"", "\"format\"", "\"kernel_release\"", "\"cpu_count\"", "\"clock\"",
            "\"pointers_hashed\"", "\"events\"", "\"event_counts\"", "\"exceptions:page_fault_user\"", "\"tlb:tlb_flush\"", "\"lost_events\"",
            "\"malformed_count\"", "\"malformed_samples\"", "\"position_kind\"", "\"truncated\"", "\"tool_version\""];
        int last = -1;
        foreach (string key in keys)
        {
            int at = json.IndexOf(key, StringComparison.Ordinal);
            Assert.True(at > last, $"{key} out of order in {json}");
            last = at;
        }
        Assert.EndsWith("}\n", json, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void ToJsonBytes_EnabledEvents_SortedOnceEachAndLeftOutWhenUnknown()
    {
        // The recorder lists each instance's events; one event may be enabled in both.
        var meta = Sample() with { EnabledEvents = ["tlb:tlb_flush", "huge_memory:mm_khugepaged_collapse_file", "tlb:tlb_flush"] };

        string json = Encoding.UTF8.GetString(meta.ToJsonBytes());

        Assert.Contains("\"enabled_events\": [\n    \"huge_memory:mm_khugepaged_collapse_file\",\n    \"tlb:tlb_flush\"\n  ],\n  \"lost_events\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("enabled_events", Encoding.UTF8.GetString(Sample().ToJsonBytes()), StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_BadJson_ErrorNamesFile()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 1, \"events\": \"many\" }");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.Contains(dir.Combine("meta.json"), error.Message, StringComparison.Ordinal);
    }

    /// <summary>A key twice (a hand edit, two files pasted together) is refused, not read as whichever came last.</summary>
    [SkippableFact]
    public void Read_DuplicateKey_ErrorNamesFileAndKey()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 1, \"trace_id\": \"t\", \"events\": 1626, \"events\": 5 }");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.StartsWith(dir.Combine("meta.json") + ": not valid dataset metadata", error.Message, StringComparison.Ordinal);
        Assert.Contains("events", error.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("\"cpu_count\": -5", "cpu_count -5 is invalid; expected a count")]
    [InlineData("\"events\": -1", "events -1 is invalid")]
    [InlineData("\"event_counts\": { \"tlb:tlb_flush\": -3 }", "event_counts.tlb:tlb_flush -3 is invalid")]
    public void Read_OutOfRangeValue_ErrorNamesFileAndField(string field, string expected)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 1, " + field + " }");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.Equal($"{dir.Combine("meta.json")}: {expected}", error.Message[..(dir.Combine("meta.json").Length + 2 + expected.Length)]);
    }

    /// <summary>
    /// JSON null where the metadata holds a value (a hand edit, a tool that writes null for "none"): refused naming the
    /// file and the key. Before, the null was set and the first use failed with a NullReferenceException (exit 3 without
    /// the file, or the read's own count check crashing).
    /// </summary>
    [SkippableTheory]
    [InlineData("\"event_counts\": null", "$.event_counts")]
    [InlineData("\"sources\": null", "$.sources")]
    [InlineData("\"trace_id\": null", "$.trace_id")]
    [InlineData("\"malformed_samples\": null", "$.malformed_samples")]
    [InlineData("\"sources\": [{ \"path\": null, \"size\": 1, \"sha256\": \"ab\" }]", "$.sources[0].path")]
    [InlineData("\"sources\": [null]", "sources holds 1 null entry; expected a list of objects")]
    [InlineData("\"enabled_events\": [\"tlb:tlb_flush\", null]", "enabled_events holds 1 null entry; expected a list of event names")]
    public void Read_NullWhereAValueBelongs_ErrorNamesFileAndKey(string field, string key)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 1, " + field + " }");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.StartsWith(dir.Combine("meta.json") + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A meta.json that leaves out the keys a tool writes (only what a hand-made or another tool's dataset holds) reads
    /// with those keys empty: before, an absent "event_counts" was null and the read's own count check crashed.
    /// </summary>
    [SkippableFact]
    public void Read_AbsentKeys_ReadAsEmpty()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 1, \"kernel_release\": \"4.19.0\", \"events\": 7 }");

        DatasetMeta meta = DatasetMeta.Read(dir.Path);

        Assert.Equal(("", 7L, "4.19.0"), (meta.TraceId, meta.Events, meta.KernelRelease));
        Assert.Empty(meta.EventCounts);
        Assert.Empty(meta.Sources);
        Assert.Empty(meta.MalformedSamples);
    }

    /// <summary>A meta.json of gigabytes (a sparse file, another file copied over it) is refused by its size, naming it.</summary>
    [SkippableFact]
    public void Read_HugeFile_RefusedBeforeReadingNamingFile()
    {
        using var dir = new TempDirectory();
        using (var file = new FileStream(dir.Combine("meta.json"), FileMode.CreateNew))
        {
            file.Write("{ \"schema_version\": 1 }"u8);
            file.SetLength(3L << 30);
        }

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.Equal($"{dir.Combine("meta.json")}: 3221225472 bytes; expected dataset metadata of at most 268435456 bytes (a meta.json is a few KiB).", error.Message);
    }

    [SkippableFact]
    public void Read_NewerSchema_ErrorSaysUpgrade()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.Combine("meta.json"), "{ \"schema_version\": 99 }");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.Contains("schema_version 99 is newer", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Read_Missing_ErrorNamesFile()
    {
        using var dir = new TempDirectory();

        var error = Assert.Throws<InvalidDataException>(() => DatasetMeta.Read(dir.Path));

        Assert.Contains(dir.Combine("meta.json"), error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Create_FromDiagnosticsAndWriter_CopiesCountsAndSamples()
    {
        var diagnostics = new IngestDiagnostics { Format = "perf", KernelRelease = "6.1", LostEvents = 9, Truncated = "cut" };
        diagnostics.Malformed("p.txt", 3, "line", "bad");
        using var connection = Pipeline.Storage.DuckDb.DuckDbConnection.OpenInMemory();
        using var writer = new EventTableWriter(connection);
        var row = new EventRow();
        for (int i = 0; i < 10; i++)
        {
            TestData.Fill(row, i);
            writer.Write(row);
            row.Clear();
        }
        writer.Complete();

        DatasetMeta meta = DatasetMeta.Create("x", diagnostics, writer, [new DatasetSource("p.txt", 1, "ab")]);

        Assert.Equal(10, meta.Events);
        Assert.Equal(10, meta.EventCounts.Values.Sum());
        Assert.Equal(2, meta.EventCounts["tlb:tlb_flush"]);
        Assert.Equal(new MalformedSample("p.txt", 3, "line", "bad"), Assert.Single(meta.MalformedSamples));
        Assert.Equal(9, meta.LostEvents);
        Assert.Equal("cut", meta.Truncated);
        Assert.Equal("perf", meta.Format);
    }
}
