using System.Text;
using Pipeline.Ingest.Catalog;

namespace Pipeline.Ingest.Tests.Catalog;

/// <summary>
/// <see cref="Utf8Cache{T}"/> tells keys apart by their length and two words, and by their bytes only past 16
/// bytes: keys that differ in any single byte, at any length, must never share a value, however they collide.
/// </summary>
public sealed class Utf8CacheTests
{
    [Fact]
    public void Get_KeysDifferingInOneByte_EachGetsItsOwnString()
    {
        // A tiny cache, so nearly every key shares its slot with others and a stale entry would be returned.
        var cache = new Utf8Cache<string>(s => s, sizePow2: 4, maxKeyLength: 40);
        for (int length = 0; length <= 40; length++)
        {
            byte[] key = Encoding.ASCII.GetBytes(new string('a', length));
            Assert.Equal(Encoding.ASCII.GetString(key), cache.Get(key));
            for (int at = 0; at < length; at++)
            {
                byte[] other = (byte[])key.Clone();
                other[at] = (byte)'b';
                Assert.Equal(Encoding.ASCII.GetString(other), cache.Get(other));
                // The original, looked up right after its near twin, is still itself.
                Assert.Equal(Encoding.ASCII.GetString(key), cache.Get(key));
            }
        }
    }

    [Fact]
    public void Get_RepeatedKey_ReturnsTheSameInstance()
    {
        var cache = new Utf8Cache<string>(s => s, sizePow2: 64, maxKeyLength: 64);
        foreach (string text in new[] { "", "d", "..", "d..1.", "rss_stat", "MM_ANONPAGES", "mm_page_alloc", "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP" })
        {
            string first = cache.Get(Encoding.UTF8.GetBytes(text));
            Assert.Equal(text, first);
            Assert.Same(first, cache.Get(Encoding.UTF8.GetBytes(text)));
        }
    }

    [Fact]
    public void Get_KeysOfEqualWordsButDifferentLength_AreDifferent()
    {
        // "aaaa" and "aaaaaaa" have the same first and last four bytes; "x\0" and "x" would agree on the bytes read
        // below four if the length were not compared.
        var cache = new Utf8Cache<string>(s => s, sizePow2: 1, maxKeyLength: 16);
        Assert.Equal("aaaa", cache.Get("aaaa"u8));
        Assert.Equal("aaaaaaa", cache.Get("aaaaaaa"u8));
        Assert.Equal("x\0", cache.Get("x\0"u8));
        Assert.Equal("x", cache.Get("x"u8));
        Assert.Equal("\0", cache.Get("\0"u8));
        Assert.Equal("", cache.Get(""u8));
    }

    [Fact]
    public void Get_KeyLongerThanTheSlot_IsDecodedEveryTime()
    {
        var cache = new Utf8Cache<string>(s => s, sizePow2: 4, maxKeyLength: 8);
        string text = "ftrace:bprint_with_a_long_name";
        Assert.Equal(text, cache.Get(Encoding.UTF8.GetBytes(text)));
        Assert.Equal("é€", cache.Get(Encoding.UTF8.GetBytes("é€")));
    }
}
