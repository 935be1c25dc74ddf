using System.Security.Cryptography;

namespace Pipeline.Storage.Tests;

/// <summary>A directory under the system temp path, deleted with its content on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mmtrace-storage-tests", System.IO.Path.GetRandomFileName());
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Every entry below <see cref="Path"/>, relative, sorted.</summary>
    public string[] Entries() =>
        Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
            .Select(e => System.IO.Path.GetRelativePath(Path, e))
            .Order(StringComparer.Ordinal)
            .ToArray();

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

internal static class TestData
{
    /// <summary>
    /// Row numbers 0..2,999 in arrival order for a writer with 100-row groups: three rows late by half a group (the
    /// reorder window puts them in place) and one by four groups (beyond the window), the rest in order.
    /// </summary>
    public static List<long> ArrivalWithLateRows()
    {
        var arrival = Enumerable.Range(0, 3_000).Select(i => (long)i).ToList();
        foreach (var (late, after) in new[] { (130, 180), (131, 181), (977, 1_027), (2_410, 2_810) })
        {
            arrival.Remove(late);
            arrival.Insert(arrival.IndexOf(after) + 1, late);
        }
        return arrival;
    }

    /// <summary>Relative path and SHA-256 of every file below a directory, sorted.</summary>
    public static string[] Fingerprint(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => System.IO.Path.GetRelativePath(directory, f) + " " + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))))
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static readonly string[] s_events = ["tlb:tlb_flush", "exceptions:page_fault_user", "syscalls:sys_enter_mremap", "mmap_lock:mmap_lock_acquire_returned", "sched:sched_switch"];
    private static readonly string[] s_comms = ["stress-ng", "kworker/0:1", "<...>", "khugepaged", "ä-prozeß"];

    /// <summary>A realistic event: header, a few typed fields depending on the event, args and sometimes a stack.</summary>
    public static void Fill(EventRow row, long i)
    {
        row.TsNs = 1_000_000_000 + (i * 1_337);
        row.Cpu = (int)(i % 4);
        row.Pid = 1000 + (int)(i % 17);
        row.Tgid = i % 5 == 0 ? null : 1000;
        row.Comm = s_comms[i % s_comms.Length];
        row.Event = s_events[i % s_events.Length];
        row.IrqFlags = i % 3 == 0 ? null : "d..1.";
        row.SrcPos = i + 1;
        switch (i % s_events.Length)
        {
            case 0:
                row.SetInt64(Field("pages"), -1);
                row.SetInt64(Field("reason"), i % 6);
                break;
            case 1:
                row.SetUInt64(Field("address"), 0xffff_8880_0000_0000UL + (ulong)i * 4096);
                row.SetUInt64(Field("ip"), 0x7f00_1234_5678UL);
                row.SetUInt64(Field("error_code"), 6);
                break;
            case 2:
                row.SetUInt64(Field("addr"), 0x7f00_0000_0000UL);
                row.SetUInt64(Field("old_len"), 4096);
                row.SetUInt64(Field("new_len"), 8192);
                row.SetUInt64(Field("flags"), 1);
                row.AddArg("__syscall_nr", "25");
                break;
            case 3:
                row.SetUInt64(Field("mm"), 0xffff_9999_0000_0000UL + (ulong)(i % 7));
                row.SetUInt64(Field("memcg_id"), 1);
                row.SetBool(Field("write"), i % 2 == 0);
                row.SetBool(Field("success"), true);
                break;
            default:
                row.SetText(Field("prev_comm"), "swapper/0");
                row.SetInt64(Field("prev_pid"), 0);
                row.SetText(Field("prev_state"), "R+");
                row.SetText(Field("next_comm"), row.Comm);
                row.SetInt64(Field("next_pid"), row.Pid);
                row.AddArg("prev_prio", "120");
                row.AddArg("quote\"key", "line\nbreak\t\"q\" \\ é 日本 \u0001");
                break;
        }
        if (i % 11 == 0)
        {
            row.Stack = ["do_user_addr_fault+0x1a4/0x600", "exc_page_fault+0x6c/0x150", "asm_exc_page_fault+0x22/0x30"];
        }
    }

    public static int Field(string name) => EventSchema.TryGetField(name, out var column) ? column.Ordinal : throw new ArgumentException(name);

    /// <summary>All fields of a row as text, for equality assertions.</summary>
    public static string Describe(EventRow row)
    {
        var parts = new List<string>
        {
            $"seq={row.Seq}", $"ts={row.TsNs}", $"cpu={row.Cpu}", $"pid={row.Pid}", $"tgid={row.Tgid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}",
            $"comm={row.Comm}", $"event={row.Event}", $"irq={row.IrqFlags ?? "null"}", $"src={row.SrcPos}",
        };
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            if (row.IsSet(c))
            {
                parts.Add($"{EventSchema.Columns[c].Name}={row.FindField(EventSchema.Columns[c].Name)}");
            }
        }
        parts.AddRange(row.Args.Select(a => $"arg[{a.Key}]={a.Value}"));
        if (row.Stack is not null)
        {
            parts.Add("stack=" + string.Join("|", row.Stack));
        }
        return string.Join(" ", parts);
    }
}
