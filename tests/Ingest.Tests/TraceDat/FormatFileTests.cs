using System.Buffers.Binary;
using Pipeline.Ingest.TraceDat;

namespace Pipeline.Ingest.Tests.TraceDat;

public class FormatFileTests
{
    private static FormatFile Load(string system, string name) =>
        FormatFile.Parse(File.ReadAllText(TraceDatCorpus.Recorded("formats", system, name + ".format")), system);

    [SkippableFact]
    public void Parse_DataLocField_ReadsLayoutAndCommonFields()
    {
        var format = Load("sched", "sched_process_exec");
        Assert.Equal("sched:sched_process_exec", format.FullName);
        Assert.Equal(365, format.Id);
        Assert.Equal(["common_type", "common_flags", "common_preempt_count", "common_pid"], format.CommonFields.Select(f => f.Name));
        var filename = format.Fields[0];
        Assert.Equal(("filename", FieldLayout.DataLoc, 8, 4, true), (filename.Name, filename.Layout, filename.Offset, filename.Size, filename.IsString));
        var pid = format.FindField("pid")!;
        Assert.True(pid.IsSigned);
        Assert.Equal("pid_t", pid.Type);
        Assert.True(format.FindField("common_pid")!.IsSigned);
    }

    [SkippableFact]
    public void Parse_TailArrayAndPointer_AreRecognised()
    {
        var print = Load("ftrace", "print");
        var buf = print.FindField("buf")!;
        Assert.Equal((FieldLayout.TailArray, true), (buf.Layout, buf.IsString));
        var mm = Load("mmap_lock", "mmap_lock_acquire_returned").FindField("mm")!;
        Assert.True(mm.IsPointer);
        Assert.Equal("struct mm_struct *", mm.Type);
    }

    [SkippableTheory]
    [InlineData(0x440dc0UL, "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")]
    [InlineData(0x2800UL, "GFP_NOWAIT")]
    [InlineData(0x140000UL, "__GFP_COMP|__GFP_HARDWALL")]
    [InlineData(0x40000000UL, "0x40000000")]
    [InlineData(0UL, "none")]
    public void RenderField_GfpFlags_PrintsAsTheKernel(ulong gfp, string expected)
    {
        var format = Load("kmem", "mm_page_alloc");
        var record = new byte[40];
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(24), gfp);
        Assert.Equal(expected, format.PrintFormat.RenderField("gfp_flags", record, bigEndian: false));
    }

    [SkippableTheory]
    [InlineData(1, "succeeded")]
    [InlineData(30, "page_filled")]
    [InlineData(99, "0x63")]
    public void RenderField_KhugepagedStatus_UsesTheSymbolicTable(int status, string expected)
    {
        var format = Load("huge_memory", "mm_khugepaged_scan_pmd");
        var record = new byte[40];
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(32), status);
        Assert.Equal(expected, format.PrintFormat.RenderField("status", record, bigEndian: false));
    }

    [SkippableFact]
    public void RenderField_FieldPrintedTwice_HasNoSingleRendering()
    {
        var format = Load("tlb", "tlb_flush");
        Assert.True(format.PrintFormat.IsComplete);
        Assert.Null(format.PrintFormat.RenderField("reason", new byte[24], bigEndian: false));
        Assert.Equal("-1", format.PrintFormat.RenderField("pages", Enumerable.Repeat((byte)0xff, 24).ToArray(), bigEndian: false));
    }

    [SkippableFact]
    public void RenderField_MmapLockBoolean_UsesTernary()
    {
        var format = Load("mmap_lock", "mmap_lock_acquire_returned");
        var record = new byte[32];
        record[25] = 1;
        Assert.Equal("true", format.PrintFormat.RenderField("success", record, bigEndian: false));
        Assert.Equal("false", format.PrintFormat.RenderField("write", record, bigEndian: false));
    }

    [SkippableFact]
    public void HeaderPage_Parse_DerivesLayoutFromFields()
    {
        var header = HeaderPage.Parse(File.ReadAllText(TraceDatCorpus.Recorded("formats", "header_page")));
        Assert.Equal((8, 8, 16, 4096), (header.CommitOffset, header.LongSize, header.DataOffset, header.PageSize));
    }

    [SkippableFact]
    public void HeaderEvent_Parse_ReadsTheTypeNumbers()
    {
        var header = HeaderEvent.Parse(File.ReadAllText(TraceDatCorpus.Recorded("formats", "header_event")));
        Assert.Equal((5, 27, 29, 30, 31, 28), (header.TypeLenBits, header.TimeDeltaBits, header.Padding, header.TimeExtend, header.TimeStamp, header.DataMaxTypeLen));
        Assert.True(header.IsStandard);
        Assert.False(HeaderEvent.Parse("\ttype_len    :    6 bits\n").IsStandard);
    }

    [SkippableFact]
    public void Parse_BadFieldLine_NamesTheLine()
    {
        var e = Assert.Throws<FormatException>(() => FormatFile.Parse("name: x\nID: 7\nformat:\n\tfield:int a;\toffset:zz;\tsize:4;\n", "s"));
        Assert.Contains("line 4", e.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => FormatFile.Parse("just text", "s"));
    }

    [SkippableFact]
    public void Parse_HostileNestingInPrintFmt_FailsThatArgumentOnly()
    {
        string text = "name: x\nID: 7\nformat:\n\tfield:int a;\toffset:8;\tsize:4;\tsigned:1;\n\tfield:int b;\toffset:12;\tsize:4;\tsigned:1;\n\n"
            + "print fmt: \"a=%d b=%d\", " + new string('(', 100_000) + "REC->a" + new string(')', 100_000) + ", REC->b\n";
        var format = FormatFile.Parse(text, "s");
        var record = new byte[16];
        record[12] = 5;
        Assert.Null(format.PrintFormat.RenderField("a", record, bigEndian: false));
        Assert.Equal("5", format.PrintFormat.RenderField("b", record, bigEndian: false));
    }

    [SkippableFact]
    public void Parse_FieldOffsetOutsideAnyRecord_Throws()
    {
        var e = Assert.Throws<FormatException>(() => FormatFile.Parse("name: x\nID: 7\nformat:\n\tfield:int a;\toffset:2147483000;\tsize:4000;\tsigned:1;\n", "s"));
        Assert.Contains("cannot lie inside an event record", e.Message, StringComparison.Ordinal);
    }
}
