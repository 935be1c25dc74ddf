using System.Buffers.Binary;
using System.Text;
using Pipeline.Ingest.TraceDat;

namespace Pipeline.Ingest.Tests.TraceDat;

public class SchedSwitchFormatTests
{
    /// <summary>sched:sched_switch as the reference kernel (6.18) describes it, from mm_v7_zstd_full.dat.</summary>
    private const string Format = """
name: sched_switch
ID: 372
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;

print fmt: "prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio
""";

    [SkippableTheory]
    [InlineData(0L, "R")]
    [InlineData(1L, "S")]
    [InlineData(2L, "D")]
    [InlineData(0x80L, "I")]
    [InlineData(0x100L, "R+")]
    [InlineData(0x3L, "S|D")]
    public void RenderField_PrevState_PrintsTheKernelLetters(long state, string expected)
    {
        var format = FormatFile.Parse(Format, "sched");
        var record = new byte[64];
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(32), state);
        Assert.True(format.PrintFormat.IsComplete);
        Assert.Equal(expected, format.PrintFormat.RenderField("prev_state", record, bigEndian: false));
    }

    [SkippableFact]
    public void RenderField_PrevComm_ReadsTheCharArray()
    {
        var format = FormatFile.Parse(Format, "sched");
        var record = new byte[64];
        Encoding.ASCII.GetBytes("spin-thr 2").CopyTo(record, 8);
        Assert.Equal("spin-thr 2", format.PrintFormat.RenderField("prev_comm", record, bigEndian: false));
        Assert.Equal((FieldLayout.FixedArray, 16, true), (format.FindField("prev_comm")!.Layout, format.FindField("prev_comm")!.ArrayLength, format.FindField("prev_comm")!.IsString));
    }
}
