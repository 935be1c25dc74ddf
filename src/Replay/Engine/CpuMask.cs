namespace Pipeline.Replay;

/// <summary>
/// A set of CPU ids as the kernel's <c>struct cpumask</c> is: one bit per CPU, as many words as the highest CPU
/// needs (a single <c>ulong</c> held only CPUs 0..63; kernels run on hundreds).
/// </summary>
internal sealed class CpuMask
{
    private ulong[] _words = new ulong[1];

    public void Add(int cpu)
    {
        int word = cpu >> 6;
        if (word >= _words.Length)
        {
            Array.Resize(ref _words, Math.Max(word + 1, _words.Length * 2));
        }
        _words[word] |= 1UL << (cpu & 63);
    }

    public bool Contains(int cpu)
    {
        int word = cpu >> 6;
        return word < _words.Length && (_words[word] & (1UL << (cpu & 63))) != 0;
    }

    public void Clear() => Array.Clear(_words);

    public void CopyFrom(CpuMask other) => _words = (ulong[])other._words.Clone();
}
