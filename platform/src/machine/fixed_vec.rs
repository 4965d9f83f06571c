//! A fixed-capacity list for boot-time discovery, where no allocator exists yet.

use core::fmt;
use core::ops::Deref;

/// Up to `N` values of `T`, stored inline. `T: Default` only fills the unused
/// slots; they are never visible through the API.
#[derive(Clone, Copy)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

/// [`FixedVec::push`] on a full list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// An empty list.
    pub fn new() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
        }
    }

    /// Appends `item`, or reports that all `N` slots are taken.
    pub fn push(&mut self, item: T) -> Result<(), Full> {
        let slot = self.items.get_mut(self.len).ok_or(Full)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    /// The stored values, in insertion order.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Most values the list can hold.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for FixedVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for FixedVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for FixedVec<T, N> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_up_to_capacity() {
        let mut list: FixedVec<u32, 2> = FixedVec::new();
        assert!(list.is_empty());
        assert_eq!(list.push(7), Ok(()));
        assert_eq!(list.push(8), Ok(()));
        assert_eq!(list.push(9), Err(Full));
        assert_eq!(list.as_slice(), &[7, 8]);
        assert_eq!((list.len(), list.capacity()), (2, 2));
        assert_eq!(list.iter().sum::<u32>(), 15);
        let mut other = FixedVec::new();
        other.push(7).ok();
        assert_ne!(list, other);
        other.push(8).ok();
        assert_eq!(list, other);
    }
}
