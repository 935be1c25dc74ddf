using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pipeline.Replay;

/// <summary>What kind of problem a finding is.</summary>
public static class FindingClass
{
    /// <summary>A race (or structural precondition failure) the kernel under the profile really has.</summary>
    public const string Race = "race";

    /// <summary>The input contradicts itself or the model (unlock of a lock not held, double free, unknown table …).</summary>
    public const string Inconsistent = "inconsistent";
}

/// <summary>How bad it is.</summary>
public static class Severity
{
    /// <summary>Use-after-free or memory corruption.</summary>
    public const string Critical = "critical";

    /// <summary>A BUG/assertion fires, or state is left wrong (e.g. a page stays Mlocked).</summary>
    public const string Error = "error";

    /// <summary>A WARN fires and the kernel falls back safely.</summary>
    public const string Warning = "warning";
}

/// <summary>One column of a witness timeline: a CPU and the tasks that ran on it.</summary>
/// <param name="Cpu">CPU number.</param>
/// <param name="Title">Header, e.g. <c>CPU1 (mremap-101)</c>.</param>
public sealed record WitnessColumn(int Cpu, string Title);

/// <summary>One line of a witness: an executed op.</summary>
/// <param name="Step">1-based step number.</param>
/// <param name="Cpu">CPU it ran on.</param>
/// <param name="Tid">Task.</param>
/// <param name="Seq">Row id of the trace op it belongs to (a kernel step's primitives share the step's seq).</param>
/// <param name="Op">Op name (<c>mmop_</c> vocabulary).</param>
/// <param name="Text">Human-readable op with its result.</param>
public sealed record WitnessStep(int Step, int Cpu, int Tid, long Seq, string Op, string Text);

/// <summary>The minimal ordered sub-trace that shows a finding.</summary>
/// <param name="Columns">CPUs in column order.</param>
/// <param name="Steps">Ops in execution order.</param>
/// <param name="Outcome">What happens at the end (the consequence the checker saw).</param>
public sealed record Witness(IReadOnlyList<WitnessColumn> Columns, IReadOnlyList<WitnessStep> Steps, string Outcome);

/// <summary>A checker's report.</summary>
public sealed record Finding
{
    /// <summary>Invariant checker: I1…I6.</summary>
    public required string Checker { get; init; }

    /// <summary>R1…R6, or <c>inconsistent</c>.</summary>
    public required string Race { get; init; }

    /// <summary><see cref="FindingClass.Race"/> or <see cref="FindingClass.Inconsistent"/>.</summary>
    public required string Class { get; init; }

    /// <summary><see cref="Severity"/>.</summary>
    public required string Severity { get; init; }

    /// <summary>CPUs involved, ascending.</summary>
    public required IReadOnlyList<int> Cpus { get; init; }

    /// <summary>Address space (0 when none).</summary>
    public int Mm { get; init; }

    /// <summary>Virtual address concerned (0 when none).</summary>
    public ulong Va { get; init; }

    /// <summary>Page frame concerned (0 when none).</summary>
    public ulong Pfn { get; init; }

    /// <summary>Row ids (<c>seq</c>) of the trace ops involved, ascending and distinct.</summary>
    public required IReadOnlyList<long> Seqs { get; init; }

    /// <summary>What happened, in kernel terms.</summary>
    public required string Message { get; init; }

    /// <summary>The witness sub-trace.</summary>
    public required Witness Witness { get; init; }

    /// <summary>The finding as one JSON object (stable key order, invariant formatting).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            WriteJson(json);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes the finding as a JSON object.</summary>
    public void WriteJson(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var inv = CultureInfo.InvariantCulture;
        json.WriteStartObject();
        json.WriteString("checker", Checker);
        json.WriteString("race", Race);
        json.WriteString("class", Class);
        json.WriteString("severity", Severity);
        json.WriteStartArray("cpus");
        foreach (int cpu in Cpus)
        {
            json.WriteNumberValue(cpu);
        }
        json.WriteEndArray();
        json.WriteNumber("mm", Mm);
        json.WriteString("va", "0x" + Va.ToString("x", inv));
        json.WriteString("pfn", "0x" + Pfn.ToString("x", inv));
        json.WriteStartArray("seqs");
        foreach (long seq in Seqs)
        {
            json.WriteNumberValue(seq);
        }
        json.WriteEndArray();
        json.WriteString("message", Message);
        json.WriteStartObject("witness");
        json.WriteStartArray("columns");
        foreach (var column in Witness.Columns)
        {
            json.WriteStartObject();
            json.WriteNumber("cpu", column.Cpu);
            json.WriteString("title", column.Title);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("steps");
        foreach (var step in Witness.Steps)
        {
            json.WriteStartObject();
            json.WriteNumber("step", step.Step);
            json.WriteNumber("cpu", step.Cpu);
            json.WriteNumber("tid", step.Tid);
            json.WriteNumber("seq", step.Seq);
            json.WriteString("op", step.Op);
            json.WriteString("text", step.Text);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteString("outcome", Witness.Outcome);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>All findings as one JSON array.</summary>
    public static string ToJson(IEnumerable<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartArray();
            foreach (var finding in findings)
            {
                finding.WriteJson(json);
            }
            json.WriteEndArray();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
