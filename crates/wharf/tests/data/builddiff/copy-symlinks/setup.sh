ln -s f link
ln -s /nowhere dangling
mkdir -p empty
rm setup.sh
